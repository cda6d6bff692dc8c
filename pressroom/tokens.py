"""Signed, expiring tokens for links in mails and pages (unsubscribe, confirm, preferences).

One canonical encoding, read strictly. A token is the unpadded base64url text of::

    purpose (1 byte: c, u or p) | issued at (4 bytes, big-endian Unix seconds)
    | subscriber public key (12 bytes) | confirm nonce (12 bytes, confirm tokens only)
    | HMAC-SHA256 of everything before it, cut to 16 bytes

33 bytes (44 characters) for unsubscribe and preferences links, 45 bytes (60 characters)
for confirm links. Both lengths are multiples of 3, so the text has no padding and no
spare bits: every byte string has exactly one spelling, and :func:`read_token` refuses
anything else (another length, a character outside ``A-Z a-z 0-9 - _``, ``=`` padding,
anything appended, percent-escapes) before it looks at the signature.

The payload names the subscriber by their random ``public_key`` (never the sequential
id), and a confirm token also carries the nonce of the pending request it was made for,
so the request's end (confirmation, unsubscribe, a newer request) voids it.

Tokens of the earlier format (``base64url(json).base64url(mac)`` with the sequential
subscriber id) are refused, with one exception: an *unsubscribe* token of that format is
still read, strictly (its one canonical spelling, the exact JSON pressroom wrote, the
signature), for :data:`LEGACY_UNSUBSCRIBE_DAYS` days after it was issued, so that the
unsubscribe links of digests sent before the upgrade keep working as the law expects
(CAN-SPAM: 30 days) and then die by themselves. Its payload names ``subscriber_id``
instead of ``public_key``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "KEY_BYTES",
    "LEGACY_UNSUBSCRIBE_DAYS",
    "NONCE_BYTES",
    "PURPOSES",
    "BadToken",
    "TokenPayload",
    "TokenSigner",
    "make_token",
    "read_token",
]

KEY_BYTES = 12
"""Raw length of a subscriber's public key (16 base64url characters)."""

NONCE_BYTES = 12
"""Raw length of a confirm nonce (16 base64url characters)."""

_MAC_BYTES = 16
_HEAD_BYTES = 5  # purpose + issued
PURPOSES: dict[str, bytes] = {"confirm": b"c", "unsubscribe": b"u", "preferences": b"p"}
"""The purposes a token may have, and the byte that names each in the payload."""

_LENGTHS = {
    purpose: 4 * (_HEAD_BYTES + KEY_BYTES + (NONCE_BYTES if purpose == "confirm" else 0) + 16) // 3
    for purpose in PURPOSES
}
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


LEGACY_UNSUBSCRIBE_DAYS = 60
"""How long an unsubscribe link of the earlier token format keeps working after issue."""

_LEGACY_MAC_BYTES = 18


class BadToken(ValueError):
    """Raised when a token is malformed, forged, for another purpose, or expired."""


@dataclass(frozen=True, slots=True)
class TokenPayload:
    """What a valid token says."""

    purpose: str
    public_key: str
    issued_at: int
    nonce: str | None = None  # confirm tokens only
    subscriber_id: int | None = None  # legacy unsubscribe tokens only (public_key "")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _raw_key(text: str, size: int, what: str) -> bytes:
    """The bytes of a canonical base64url key of ``size`` bytes (raises ValueError)."""
    if len(text) != 4 * size // 3 or not _ALPHABET.fullmatch(text):
        raise ValueError(f"{what} {text!r} is not {size} bytes of base64url")
    return base64.urlsafe_b64decode(text)


class TokenSigner:
    """Makes tokens with one secret; the key is prepared once (digests make many).

    Args:
        secret: ``[web] secret``.
    """

    __slots__ = ("_key",)

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    @staticmethod
    def head(purpose: str, issued: int) -> bytes:
        """The first five payload bytes: purpose and issue time."""
        return PURPOSES[purpose] + issued.to_bytes(4, "big")

    def seal(self, head: bytes, public_key: str, nonce: str | None = None) -> str:
        """The token for ``head`` (see :meth:`head`), the subscriber's key and a nonce."""
        body = head + _raw_key(public_key, KEY_BYTES, "public key")
        if nonce is not None:
            body += _raw_key(nonce, NONCE_BYTES, "nonce")
        return _b64(body + hmac.digest(self._key, body, hashlib.sha256)[:_MAC_BYTES])

    def check(self, body: bytes, mac: bytes) -> bool:
        """Constant-time check of ``mac`` against ``body``."""
        return hmac.compare_digest(hmac.digest(self._key, body, hashlib.sha256)[:_MAC_BYTES], mac)


def make_token(
    secret: str, purpose: str, public_key: str, now: datetime, nonce: str | None = None
) -> str:
    """Return a URL-safe token for ``purpose`` naming the subscriber ``public_key``.

    Args:
        secret: ``[web] secret``.
        purpose: ``confirm``, ``unsubscribe`` or ``preferences``.
        public_key: the subscriber's ``public_key`` (16 base64url characters).
        now: the issue time (``max_age`` counts from it).
        nonce: the pending request's ``confirm_nonce``; required for ``confirm`` only.

    Raises:
        ValueError: unknown purpose, a malformed key or nonce, or a nonce where it does not
            belong (or none where it does).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if (nonce is not None) != (purpose == "confirm"):
        raise ValueError("a confirm token needs a nonce, and only a confirm token has one")
    head = TokenSigner.head(purpose, int(now.timestamp()))
    return TokenSigner(secret).seal(head, public_key, nonce)


def read_token(
    secret: str, token: str, purpose: str, now: datetime, max_age: int | None = None
) -> TokenPayload:
    """Check ``token`` strictly and return its payload.

    Raises:
        BadToken: not the one canonical spelling of a token for ``purpose``, a bad
            signature, another purpose, or older than ``max_age`` seconds.
    """
    if purpose == "unsubscribe" and "." in token:
        return _read_legacy_unsubscribe(secret, token, now)
    expected = _LENGTHS.get(purpose)
    if expected is None:
        raise BadToken(f"unknown token purpose {purpose!r}")
    if len(token) != expected or not _ALPHABET.fullmatch(token):
        raise BadToken("malformed token")
    raw = base64.urlsafe_b64decode(token)  # canonical: the length has no spare bits
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not TokenSigner(secret).check(body, mac):
        raise BadToken("bad signature")
    if body[:1] != PURPOSES[purpose]:
        raise BadToken(f"token is not for {purpose!r}")
    issued = int.from_bytes(body[1:_HEAD_BYTES], "big")
    if max_age is not None and now.timestamp() - issued > max_age:
        raise BadToken("token expired")
    key_end = _HEAD_BYTES + KEY_BYTES
    public_key = _b64(body[_HEAD_BYTES:key_end])
    nonce = _b64(body[key_end:]) if purpose == "confirm" else None
    return TokenPayload(purpose, public_key, issued, nonce)


def _canonical_b64(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``, if that is their one spelling."""
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise BadToken("malformed token")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw).rstrip("=") != text:  # spare bits set: another spelling of these bytes
        raise BadToken("malformed token")
    return raw


def _read_legacy_unsubscribe(secret: str, token: str, now: datetime) -> TokenPayload:
    """An unsubscribe token of the earlier format, read strictly (see the module doc)."""
    encoded, _, signature = token.partition(".")
    raw, mac = _canonical_b64(encoded), _canonical_b64(signature)
    expected = hmac.digest(secret.encode("utf-8"), raw, hashlib.sha256)[:_LEGACY_MAC_BYTES]
    if len(mac) != _LEGACY_MAC_BYTES or not hmac.compare_digest(expected, mac):
        raise BadToken("bad signature")
    try:
        purpose, subscriber_id, issued = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadToken("malformed payload") from exc
    if not (purpose == "unsubscribe" and type(subscriber_id) is int and type(issued) is int):
        raise BadToken("token is not for 'unsubscribe'")
    if json.dumps([purpose, subscriber_id, issued], separators=(",", ":")).encode() != raw:
        raise BadToken("malformed payload")
    if now.timestamp() - issued > LEGACY_UNSUBSCRIBE_DAYS * 86400:
        raise BadToken("token expired")
    return TokenPayload(purpose, "", issued, subscriber_id=subscriber_id)
