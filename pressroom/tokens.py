"""Signed, expiring tokens for links in mails and pages (unsubscribe, confirm, preferences).

A token is ``base64url(payload).base64url(hmac)``; the payload holds the purpose, the
subscriber id and the issue time. Used by the digest (to make links) and by the web app
(to check them). Tokens for one purpose never pass as another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

__all__ = ["BadToken", "TokenPayload", "make_token", "read_token"]


class BadToken(ValueError):
    """Raised when a token is malformed, forged, for another purpose, or expired."""


@dataclass(frozen=True, slots=True)
class TokenPayload:
    """What a valid token says."""

    purpose: str
    subscriber_id: int
    issued_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest()[:18]


def make_token(secret: str, purpose: str, subscriber_id: int, now: datetime) -> str:
    """Return a URL-safe token binding ``purpose`` and ``subscriber_id`` at time ``now``."""
    payload = json.dumps([purpose, subscriber_id, int(now.timestamp())], separators=(",", ":"))
    raw = payload.encode("ascii")
    return f"{_b64(raw)}.{_b64(_sign(secret, raw))}"


def read_token(
    secret: str, token: str, purpose: str, now: datetime, max_age: int | None = None
) -> TokenPayload:
    """Check ``token`` and return its payload.

    Raises:
        BadToken: malformed, bad signature, other purpose, or older than ``max_age`` s.
    """
    try:
        encoded, signature = token.split(".")
        raw = _unb64(encoded)
        given = _unb64(signature)
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadToken("malformed token") from exc
    if not hmac.compare_digest(given, _sign(secret, raw)):
        raise BadToken("bad signature")
    try:
        token_purpose, subscriber_id, issued_at = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadToken("malformed payload") from exc
    if token_purpose != purpose:
        raise BadToken(f"token is for {token_purpose!r}, not {purpose!r}")
    if max_age is not None and now.timestamp() - issued_at > max_age:
        raise BadToken("token expired")
    return TokenPayload(str(token_purpose), int(subscriber_id), int(issued_at))
