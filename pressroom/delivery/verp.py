"""VERP: envelope senders and unsubscribe addresses that name the delivery, signed.

A digest of run 7 to subscriber 42 leaves with the envelope sender
``bounces+<token>@example.org`` (``[mail] return_path`` with ``+<token>``), so the bounce
that comes back hours later says, by its address alone, which delivery failed; the
``List-Unsubscribe`` mailto is ``unsubscribe+<token>@example.org`` the same way.

The token is ``<ids>.<signature>``. ``<ids>`` is the pair (run, subscriber) enciphered
under ``[web] secret`` (a four-round Feistel network over two 50-bit halves, HMAC-SHA256
as its round function): 100 bits, 20 base-32 characters, that only the secret turns back
into the ids, so a token shows nobody how many subscribers or runs there are, or which
address came before another. Run 0 is a confirmation mail (no digest run). The signature is
80 bits of HMAC-SHA256 under the same secret, in base 32, over the purpose (``bounce`` or
``unsubscribe``) and ``<ids>``, so a bounce token is not an unsubscribe token and nobody
without the secret can make one. Lower case only: some mail systems fold the local part's
case. At most :data:`MAX_TOKEN` characters (37 are used), so ``local+token`` fits RFC 5321's
64-octet local part with a local part of up to 24 characters (``config.MailSettings``
checks it).

Tokens of the earlier shape ``<kind><run>.<subscriber>.<signature>`` (the ids in base 36,
readable) are still read, for the bounces of mails sent before it changed; none is made.
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MAX_ID",
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
_HALF_BITS = 50
_HALF = (1 << _HALF_BITS) - 1
MAX_ID = _HALF - 1
"""The largest run or subscriber id a token can name (about 10**15)."""
_ROUNDS = 4  # Luby-Rackoff: four rounds of a pseudo-random function make a permutation
_ID_CHARS = 2 * _HALF_BITS // 5  # 20 base-32 characters
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_SIGNATURE_BYTES = 10  # 80 bits: 16 base-32 characters
_TOKEN = re.compile(rf"^([a-z2-7]{{{_ID_CHARS}}})\.([a-z2-7]{{16}})$")
_LEGACY_TOKEN = re.compile(r"^([dc])([0-9a-z]{1,10})\.([0-9a-z]{1,10})\.([a-z2-7]{16})$")


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


def _round(secret: str, step: int, half: int) -> int:
    raw = hmac.digest(secret.encode("utf-8"), f"verp-ids:{step}:{half}".encode("ascii"), "sha256")
    return int.from_bytes(raw[:8], "big") & _HALF


def _encipher(secret: str, run: int, subscriber: int) -> str:
    """(run, subscriber) as 20 base-32 characters that only ``secret`` reads back."""
    left, right = run, subscriber
    for step in range(_ROUNDS):
        left, right = right, left ^ _round(secret, step, right)
    number = (left << _HALF_BITS) | right
    return "".join(_B32[(number >> shift) & 31] for shift in range(95, -1, -5))


def _decipher(secret: str, ids: str) -> tuple[int, int]:
    number = 0
    for char in ids:
        number = (number << 5) | _B32.index(char)
    left, right = number >> _HALF_BITS, number & _HALF
    for step in reversed(range(_ROUNDS)):
        left, right = right ^ _round(secret, step, left), left
    return left, right


def _signature(secret: str, purpose: Purpose, body: str) -> str:
    raw = hmac.digest(secret.encode("utf-8"), f"verp:{purpose}:{body}".encode("ascii"), "sha256")
    return base64.b32encode(raw[:_SIGNATURE_BYTES]).decode("ascii").lower()


def make_token(secret: str, purpose: Purpose, ref: VerpRef) -> str:
    """The signed token naming ``ref`` for ``purpose`` (at most :data:`MAX_TOKEN` characters).

    Raises:
        ValueError: an id is negative or larger than :data:`MAX_ID`.
    """
    run = 0 if ref.digest_id is None else ref.digest_id + 1
    for number in (ref.subscriber_id, ref.digest_id or 0):
        if not 0 <= number <= MAX_ID:
            raise ValueError(f"id {number} does not fit a VERP token")
    ids = _encipher(secret, run, ref.subscriber_id)
    return f"{ids}.{_signature(secret, purpose, ids)}"


def read_token(secret: str, purpose: Purpose, token: str) -> tuple[TokenCheck, VerpRef | None]:
    """Check ``token`` (any case); the delivery it names only when it is valid."""
    lowered = token.lower()
    match = _TOKEN.match(lowered)
    if match is None:
        return _read_legacy(secret, purpose, lowered)
    ids, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(secret, purpose, ids)):
        return TokenCheck.FORGED, None
    run, subscriber = _decipher(secret, ids)
    if run > MAX_ID + 1 or subscriber > MAX_ID:  # not one make_token can have made
        return TokenCheck.FORGED, None
    return TokenCheck.VALID, VerpRef(subscriber, None if run == 0 else run - 1)


def _read_legacy(secret: str, purpose: Purpose, token: str) -> tuple[TokenCheck, VerpRef | None]:
    """A token of the earlier, readable shape (mails sent before it changed still bounce)."""
    match = _LEGACY_TOKEN.match(token)
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
