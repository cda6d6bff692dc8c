"""VERP: envelope senders and unsubscribe addresses that name the delivery, signed.

A digest to subscriber 42 of run 7 leaves with the envelope sender
``bounces+d7.16.<signature>@example.org`` (``[mail] return_path`` with ``+<token>``), so
the bounce that comes back hours later says, by its address alone, which delivery failed;
the ``List-Unsubscribe`` mailto is ``unsubscribe+<token>@example.org`` the same way.

The token is ``<kind><run>.<subscriber>.<signature>``: kind ``d`` (a digest run) or ``c``
(a confirmation mail, run 0), the two ids in base 36, and 80 bits of HMAC-SHA256 under
``[web] secret`` in base 32, over the purpose (``bounce`` or ``unsubscribe``), the kind
and the ids, so a bounce token is not an unsubscribe token and nobody without the secret
can make one. Lower case only: some mail systems fold the local part's case. At most
:data:`MAX_TOKEN` characters, so ``local+token`` fits RFC 5321's 64-octet local part with
a local part of up to 24 characters (``config.MailSettings`` checks it).
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MAX_TOKEN",
    "Purpose",
    "TokenCheck",
    "VerpRef",
    "find_token",
    "make_token",
    "read_token",
    "verp_address",
]

MAX_TOKEN = 39
_MAX_ID = 36**10 - 1
_SIGNATURE_BYTES = 10  # 80 bits: 16 base-32 characters
_TOKEN = re.compile(r"^([dc])([0-9a-z]{1,10})\.([0-9a-z]{1,10})\.([a-z2-7]{16})$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class Purpose(StrEnum):
    """Which address a token is for."""

    BOUNCE = "bounce"  # the envelope sender ([mail] return_path)
    UNSUBSCRIBE = "unsubscribe"  # the List-Unsubscribe mailto ([mail] unsubscribe_mailto)


@dataclass(frozen=True, slots=True)
class VerpRef:
    """The delivery a token names: a digest run's (``digest_id``) or a confirmation's (None)."""

    subscriber_id: int
    digest_id: int | None


class TokenCheck(StrEnum):
    """What :func:`read_token` found."""

    VALID = "valid"
    FORGED = "forged"  # token-shaped, but not signed with this secret for this purpose
    MALFORMED = "malformed"  # not a token at all


def _base36(number: int) -> str:
    if not 0 <= number <= _MAX_ID:
        raise ValueError(f"id {number} does not fit a VERP token")
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out


def _signature(secret: str, purpose: Purpose, body: str) -> str:
    raw = hmac.digest(secret.encode("utf-8"), f"verp:{purpose}:{body}".encode("ascii"), "sha256")
    return base64.b32encode(raw[:_SIGNATURE_BYTES]).decode("ascii").lower()


def make_token(secret: str, purpose: Purpose, ref: VerpRef) -> str:
    """The signed token naming ``ref`` for ``purpose`` (at most :data:`MAX_TOKEN` characters).

    Raises:
        ValueError: an id is negative or too large for a token.
    """
    kind = "c" if ref.digest_id is None else "d"
    body = f"{kind}{_base36(ref.digest_id or 0)}.{_base36(ref.subscriber_id)}"
    return f"{body}.{_signature(secret, purpose, body)}"


def read_token(secret: str, purpose: Purpose, token: str) -> tuple[TokenCheck, VerpRef | None]:
    """Check ``token`` (any case); the delivery it names only when it is valid."""
    match = _TOKEN.match(token.lower())
    if match is None:
        return TokenCheck.MALFORMED, None
    kind, run, subscriber, signature = match.groups()
    body = f"{kind}{run}.{subscriber}"
    if not hmac.compare_digest(signature, _signature(secret, purpose, body)):
        return TokenCheck.FORGED, None
    digest_id = None if kind == "c" else int(run, 36)
    return TokenCheck.VALID, VerpRef(int(subscriber, 36), digest_id)


def verp_address(base: str, token: str) -> str:
    """``local+token@domain`` for ``base`` = ``local@domain``.

    Raises:
        ValueError: the local part would exceed 64 octets (RFC 5321 section 4.5.3.1.1).
    """
    local, _, domain = base.rpartition("@")
    address_local = f"{local}+{token}"
    if len(address_local.encode("utf-8")) > 64:
        raise ValueError(f"{address_local}@{domain}: local part longer than 64 octets")
    return f"{address_local}@{domain}"


def find_token(base: str, address: str) -> str | None:
    """The token of ``address`` if it is ``base``'s ``local+token@domain`` (any case), else None."""
    local, _, domain = base.lower().rpartition("@")
    got_local, _, got_domain = address.strip().strip("<>").lower().rpartition("@")
    if got_domain != domain or not got_local.startswith(local + "+"):
        return None
    return got_local[len(local) + 1 :]
