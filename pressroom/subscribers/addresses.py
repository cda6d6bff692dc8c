"""E-mail addresses: validated and normalised once, where they enter pressroom.

Normalising means: the syntax checked (no DNS lookups), the domain converted to its
IDNA A-label (ASCII) form and lower-cased, the local part kept as written (the address is
sent as first written; :func:`pressroom.store.subscribers.address_key` lower-cases it to
find the one subscriber of a mailbox). Refused, with one sentence: a local part over 64
octets (RFC 5321 §4.5.3.1.1), an address over 254 octets, quoted local parts and domain
literals, and a non-ASCII local part unless the transport speaks SMTPUTF8 (``smtputf8``;
RFC 6531), because without it no relay accepts the address.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

__all__ = ["MAX_LOCAL_OCTETS", "InvalidAddress", "normalise_email"]

MAX_LOCAL_OCTETS = 64
"""RFC 5321 §4.5.3.1.1: the longest local part a relay must accept."""


class InvalidAddress(ValueError):
    """Raised when a text is not a deliverable e-mail address; the message says why."""


def normalise_email(text: str, *, smtputf8: bool = False) -> str:
    """Return ``text`` as a normalised address (``local@ascii-domain``).

    Args:
        text: what a user typed; surrounding blanks are ignored.
        smtputf8: the transport can deliver non-ASCII local parts (SMTPUTF8).

    Raises:
        InvalidAddress: the address is empty, malformed, too long, has an invalid
            domain, or a non-ASCII local part that the transport cannot deliver.
    """
    candidate = text.strip()
    if not candidate:
        raise InvalidAddress("the e-mail address is empty")
    shown = candidate if len(candidate) <= 80 else candidate[:77] + "..."
    local = candidate.rpartition("@")[0]
    if len(local.encode("utf-8", "surrogatepass")) > MAX_LOCAL_OCTETS:
        raise InvalidAddress(
            f"{shown!r} is not a valid e-mail address: the part before the @ is longer "
            f"than {MAX_LOCAL_OCTETS} octets"
        )
    if not smtputf8 and not local.isascii():
        raise InvalidAddress(
            f"{shown!r} cannot be delivered: the part before the @ has non-ASCII "
            "characters, which need SMTPUTF8"
        )
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=smtputf8)
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        raise InvalidAddress(f"{shown!r} is not a valid e-mail address: {reason}") from exc
    domain = (result.ascii_domain or result.domain).lower()
    local = result.ascii_local_part or result.local_part
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:  # after NFC normalisation
        raise InvalidAddress(
            f"{shown!r} is not a valid e-mail address: the part before the @ is longer "
            f"than {MAX_LOCAL_OCTETS} octets"
        )
    return f"{local}@{domain}"
