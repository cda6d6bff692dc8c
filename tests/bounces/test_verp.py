"""VERP tokens: signed, purpose-bound, case-proof, short enough for a 64-octet local part."""

from __future__ import annotations

import base64
import hmac
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pressroom.config import load_settings
from pressroom.delivery.verp import (
    MAX_ID,
    MAX_TOKEN,
    Purpose,
    TokenCheck,
    VerpRef,
    find_token,
    make_token,
    read_token,
    verp_address,
)
from pressroom.errors import ConfigError

SECRET = "test-secret-0123456789"
IDS = st.integers(min_value=0, max_value=MAX_ID)


@pytest.mark.slow
@given(subscriber=IDS, run=st.none() | IDS, purpose=st.sampled_from(list(Purpose)))
def test_round_trip_in_any_case_and_within_64_octets(
    subscriber: int, run: int | None, purpose: Purpose
) -> None:
    ref = VerpRef(subscriber, run)
    token = make_token(SECRET, purpose, ref)
    assert len(token) <= MAX_TOKEN and token == token.lower()
    assert read_token(SECRET, purpose, token.upper()) == (TokenCheck.VALID, ref)
    address = verp_address("a" * 24 + "@example.org", token)
    assert len(address.split("@")[0]) <= 64
    assert find_token("A" * 24 + "@EXAMPLE.org", address.upper()) == token


def test_refused_for_another_secret_purpose_or_any_change() -> None:
    token = make_token(SECRET, Purpose.BOUNCE, VerpRef(42, 7))
    assert read_token("another-secret-012345", Purpose.BOUNCE, token)[0] is TokenCheck.FORGED
    assert read_token(SECRET, Purpose.UNSUBSCRIBE, token)[0] is TokenCheck.FORGED
    for i, char in enumerate(token):
        if char == ".":
            continue
        changed = token[:i] + ("b" if char == "a" else "a") + token[i + 1 :]
        assert read_token(SECRET, Purpose.BOUNCE, changed)[0] is not TokenCheck.VALID
    assert read_token(SECRET, Purpose.BOUNCE, "hello")[0] is TokenCheck.MALFORMED


def test_find_token_only_for_the_base_address() -> None:
    assert find_token("bounces@example.org", "<bounces+abc@example.org>") == "abc"
    assert find_token("bounces@example.org", "bounces@example.org") is None
    assert find_token("bounces@example.org", "bounces+abc@other.org") is None
    assert find_token("bounces@example.org", "notbounces+abc@example.org") is None


def test_ids_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make_token(SECRET, Purpose.BOUNCE, VerpRef(MAX_ID + 1, 1))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a-very-long-bounce-mailbox-name@example.org", "at most 24 characters"),
        ("bounces+x@example.org", r"must not contain '\+'"),
        ("not an address", "not an e-mail address"),
    ],
)
def test_config_checks_the_room_for_a_token(value: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_settings(mail={"return_path": value})


@pytest.mark.parametrize(
    "source",
    ["maildir:/var/mail/bounces", "imaps://bounces@mail.example.org/INBOX", "imap://u@h:143/X"],
)
def test_bounce_sources_accepted(source: str) -> None:
    assert load_settings(bounces={"source": source}).bounces.source == source


@pytest.mark.parametrize("source", ["pop3://u@h/", "imaps://mail.example.org/INBOX", "/var/mail"])
def test_bad_bounce_sources_are_named(source: str) -> None:
    with pytest.raises(ConfigError, match=r"bounces\.source: must be maildir:"):
        load_settings(bounces={"source": source})


def test_soft_window_takes_a_duration() -> None:
    assert load_settings(bounces={"soft_window": "7d"}).bounces.soft_window == 7 * 86400


def test_tokens_name_no_readable_or_sequential_id() -> None:
    """Neighbouring subscribers and runs get unrelated tokens: nobody counts the list, and
    only the secret reads the ids back."""
    tokens = [make_token(SECRET, Purpose.BOUNCE, VerpRef(sid, 7)) for sid in range(1, 40)]
    tokens += [make_token(SECRET, Purpose.BOUNCE, VerpRef(1, run)) for run in (8, 9, None)]
    ciphered = [token.split(".")[0] for token in tokens]
    assert all(len(c) == 20 for c in ciphered) and len(set(ciphered)) == len(ciphered)
    for one, other in itertools.pairwise(ciphered):  # 19.4 of 20 characters differ on average
        assert sum(a != b for a, b in zip(one, other, strict=True)) >= 8
    other_secret = make_token("another-secret-012345", Purpose.BOUNCE, VerpRef(1, 7))
    assert other_secret.split(".")[0] != ciphered[0]
    for sid, token in enumerate(tokens[:39], start=1):
        assert read_token(SECRET, Purpose.BOUNCE, token) == (TokenCheck.VALID, VerpRef(sid, 7))


def test_tokens_of_the_readable_shape_still_verify() -> None:
    """Mails sent before the ids were enciphered still bounce back to their delivery."""
    legacy = (
        "d7.16."
        + base64.b32encode(hmac.digest(SECRET.encode(), b"verp:bounce:d7.16", "sha256")[:10])
        .decode()
        .lower()
    )
    assert read_token(SECRET, Purpose.BOUNCE, legacy) == (TokenCheck.VALID, VerpRef(42, 7))
    assert read_token(SECRET, Purpose.UNSUBSCRIBE, legacy)[0] is TokenCheck.FORGED
    assert read_token(SECRET, Purpose.BOUNCE, "d7.17" + legacy[5:])[0] is TokenCheck.FORGED
