"""Addresses where they enter: RFC 5321 limits, IDN domains, SMTPUTF8, one sentence each."""

from __future__ import annotations

import pytest

from pressroom.store.subscribers import address_key
from pressroom.subscribers.addresses import MAX_LOCAL_OCTETS, InvalidAddress, normalise_email


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
        ("Reader@Bücher.DE", "Reader@xn--bcher-kva.de"),
        ("x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
        ("  first.last+tag@例子.中国 ", "first.last+tag@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_good_addresses_normalise(typed: str, expected: str) -> None:
    assert normalise_email(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("a" * 65 + "@example.com", "longer than 64 octets"),
        ("é" * 33 + "@example.com", "longer than 64 octets"),  # 33 characters, 66 octets
        ("jörg@example.com", "SMTPUTF8"),
        ("用户@example.cn", "SMTPUTF8"),
        ("\ud800@example.com", "SMTPUTF8"),  # a lone surrogate
        ("a\x00b@example.com", "not a valid e-mail address"),
        ('"quoted"@example.com', "not a valid e-mail address"),
        ("a@[127.0.0.1]", "not a valid e-mail address"),
        ("a@b", "not a valid e-mail address"),
        ("", "empty"),
    ],
)
def test_bad_addresses_are_refused_in_one_sentence(typed: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason) as caught:
        normalise_email(typed)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 200


def test_non_ascii_local_parts_pass_when_the_transport_speaks_smtputf8() -> None:
    assert normalise_email("jörg@Bücher.de", smtputf8=True) == "jörg@xn--bcher-kva.de"
    with pytest.raises(InvalidAddress, match="64 octets"):
        normalise_email("é" * 33 + "@example.com", smtputf8=True)
    assert len(("é" * 32).encode()) == MAX_LOCAL_OCTETS
    assert normalise_email("é" * 32 + "@example.com", smtputf8=True).startswith("é" * 32)


def test_one_mailbox_key_whatever_the_case() -> None:
    keys = {address_key(normalise_email(t)) for t in ("X@Y.org", "x@y.ORG", "X@y.org")}
    assert keys == {"x@y.org"}
