"""Tokens: one canonical spelling, read strictly; no tampered or padded token passes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from datetime import datetime, timedelta

import pytest
from support import NOW, SECRET

from pressroom.tokens import (
    LEGACY_UNSUBSCRIBE_DAYS,
    BadToken,
    TokenPayload,
    make_token,
    read_token,
)

KEY = "k3Y_-0123456789a"  # 16 base64url characters, as store.subscribers.new_public_key
NONCE = "n0nce_-abcdefghi"
URL_SAFE = string.ascii_letters + string.digits + "-._~"  # RFC 3986 unreserved


def tokens() -> list[tuple[str, str]]:
    return [
        ("confirm", make_token(SECRET, "confirm", KEY, NOW, NONCE)),
        ("unsubscribe", make_token(SECRET, "unsubscribe", KEY, NOW)),
        ("preferences", make_token(SECRET, "preferences", KEY, NOW)),
    ]


@pytest.mark.parametrize(("purpose", "token"), tokens())
def test_a_token_reads_back_what_it_was_made_with(purpose: str, token: str) -> None:
    payload = read_token(SECRET, token, purpose, NOW)
    nonce = NONCE if purpose == "confirm" else None
    assert payload == TokenPayload(purpose, KEY, int(NOW.timestamp()), nonce)
    assert len(token) == (60 if purpose == "confirm" else 44)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")


@pytest.mark.parametrize(("purpose", "token"), tokens())
def test_every_one_character_change_is_rejected(purpose: str, token: str) -> None:
    alphabet = string.ascii_letters + string.digits + "-_=.!~%+/ é"
    accepted = []
    for index, original in enumerate(token):
        for replacement in alphabet:
            if replacement == original:
                continue
            changed = token[:index] + replacement + token[index + 1 :]
            try:
                read_token(SECRET, changed, purpose, NOW)
            except BadToken:
                continue
            accepted.append(changed)
    assert accepted == []


@pytest.mark.parametrize(("purpose", "token"), tokens())
def test_anything_appended_or_removed_is_rejected(purpose: str, token: str) -> None:
    tails = [*URL_SAFE, "%20", " ", "=", "==", "!", "~", "\n", "\x00", ".", "A" * 4, "é"]
    for tail in tails:
        with pytest.raises(BadToken):
            read_token(SECRET, token + tail, purpose, NOW)
        with pytest.raises(BadToken):
            read_token(SECRET, tail + token, purpose, NOW)
    for cut in range(1, len(token)):
        with pytest.raises(BadToken):
            read_token(SECRET, token[:cut], purpose, NOW)
        with pytest.raises(BadToken):
            read_token(SECRET, token[cut:], purpose, NOW)


@pytest.mark.parametrize(("purpose", "token"), tokens())
def test_other_spellings_of_the_same_bytes_are_rejected(purpose: str, token: str) -> None:
    raw = base64.urlsafe_b64decode(token)
    spellings = (
        {
            base64.b64encode(raw).decode("ascii"),  # the standard alphabet (+ and /)
            base64.urlsafe_b64encode(raw).decode("ascii") + "=",
            token.lower(),
            token.upper(),
            " " + token,
            token + "\n",
            f"{token[:10]}.{token[10:]}",
        }
        - {token}
    )
    for spelling in spellings:
        with pytest.raises(BadToken):
            read_token(SECRET, spelling, purpose, NOW)


def test_a_token_for_one_purpose_never_passes_as_another() -> None:
    for purpose, token in tokens():
        for other in ("confirm", "unsubscribe", "preferences"):
            if other != purpose:
                with pytest.raises(BadToken):
                    read_token(SECRET, token, other, NOW)
    with pytest.raises(BadToken):
        read_token(SECRET, tokens()[1][1], "login", NOW)


def test_another_secret_and_expiry_are_rejected() -> None:
    token = make_token(SECRET, "confirm", KEY, NOW, NONCE)
    with pytest.raises(BadToken, match="signature"):
        read_token("another-secret-with-32-characters!", token, "confirm", NOW)
    assert read_token(SECRET, token, "confirm", NOW + timedelta(seconds=60), max_age=60)
    with pytest.raises(BadToken, match="expired"):
        read_token(SECRET, token, "confirm", NOW + timedelta(seconds=61), max_age=60)


def test_the_payload_holds_the_opaque_key_not_a_sequential_id() -> None:
    one = make_token(SECRET, "unsubscribe", KEY, NOW)
    other = make_token(SECRET, "unsubscribe", "B" * 16, NOW)
    assert one != other
    raw = base64.urlsafe_b64decode(one)
    assert raw[5:17] == base64.urlsafe_b64decode(KEY)


def test_malformed_keys_and_nonces_are_refused_when_making() -> None:
    for key in ("", "short", KEY + "A", "k3Y+/0123456789a", "é" * 16):
        with pytest.raises(ValueError):
            make_token(SECRET, "unsubscribe", key, NOW)
    with pytest.raises(ValueError):
        make_token(SECRET, "confirm", KEY, NOW)  # a confirm token needs its request's nonce
    with pytest.raises(ValueError):
        make_token(SECRET, "unsubscribe", KEY, NOW, NONCE)
    with pytest.raises(ValueError):
        make_token(SECRET, "login", KEY, NOW)


def legacy_token(purpose: str, subscriber_id: object, issued: datetime, payload: str = "") -> str:
    """A token as pressroom wrote them before public keys: base64url(json).base64url(mac)."""
    text = payload or json.dumps([purpose, subscriber_id, int(issued.timestamp())],
                                 separators=(",", ":"))  # fmt: skip
    raw = text.encode()
    mac = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()[:18]
    b64 = base64.urlsafe_b64encode
    return f"{b64(raw).rstrip(b'=').decode()}.{b64(mac).rstrip(b'=').decode()}"


def test_a_legacy_unsubscribe_link_works_for_a_while() -> None:
    token = legacy_token("unsubscribe", 7, NOW)
    payload = read_token(SECRET, token, "unsubscribe", NOW + timedelta(days=59))
    assert payload.subscriber_id == 7 and payload.public_key == ""
    with pytest.raises(BadToken, match="expired"):
        read_token(
            SECRET, token, "unsubscribe", NOW + timedelta(days=LEGACY_UNSUBSCRIBE_DAYS, seconds=1)
        )


def test_legacy_tokens_for_anything_but_unsubscribe_are_refused() -> None:
    for purpose in ("confirm", "preferences"):
        with pytest.raises(BadToken):
            read_token(SECRET, legacy_token(purpose, 7, NOW), purpose, NOW)
        with pytest.raises(BadToken):
            read_token(SECRET, legacy_token(purpose, 7, NOW), "unsubscribe", NOW)
    for odd in ('["unsubscribe", 7, 1796000000]', '["unsubscribe",7.0,1796000000]',
                '["unsubscribe","7",1796000000]', '["unsubscribe",true,1796000000]',
                '["unsubscribe",7,1796000000,1]', '{"unsubscribe":7}'):  # fmt: skip
        with pytest.raises(BadToken):  # validly signed, but not what pressroom wrote
            read_token(SECRET, legacy_token("", 0, NOW, payload=odd), "unsubscribe", NOW)


def test_every_change_to_a_legacy_unsubscribe_token_is_rejected() -> None:
    token = legacy_token("unsubscribe", 123, NOW)
    assert _passes(token)
    alphabet = string.ascii_letters + string.digits + "-_=.!~%+/ "
    accepted = []
    for index, original in enumerate(token):
        for replacement in alphabet:
            changed = token[:index] + replacement + token[index + 1 :]
            if replacement != original and _passes(changed):
                accepted.append(changed)
    for tail in [*URL_SAFE, "%20", "=", "==", "!", "~", "\n"]:
        if _passes(token + tail):
            accepted.append(token + tail)
    encoded, signature = token.split(".")
    for spelling in (
        f"{encoded}=.{signature}",
        f"{encoded}.{signature}==",
        f"{encoded}.{signature}.x",
    ):
        if _passes(spelling):
            accepted.append(spelling)
    assert accepted == []


def _passes(token: str) -> bool:
    try:
        read_token(SECRET, token, "unsubscribe", NOW)
    except BadToken:
        return False
    return True


def test_a_legacy_token_with_a_forged_signature_is_refused() -> None:
    old = "WyJ1bnN1YnNjcmliZSIsNywxNzk2MDAwMDAwXQ.c2lnbmF0dXJlLWJ5dGVzLTE4"
    with pytest.raises(BadToken):
        read_token(SECRET, old, "unsubscribe", NOW)
