"""E-mail addresses: validated and normalised once, where they enter pressroom.

Normalising means: the syntax checked (no DNS lookups), the domain converted to its
IDNA (ASCII) form and lower-cased, the local part kept as written (RFC 5321 says it may be
case-sensitive). Two spellings of one mailbox that differ only in the domain's case or
script therefore land on one subscriber row.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

__all__ = ["InvalidAddress", "normalise_email"]


class InvalidAddress(ValueError):
    """Raised when a text is not a deliverable e-mail address; the message says why."""


def normalise_email(text: str, *, smtputf8: bool = False) -> str:
    """Return ``text`` as a normalised address (``local@ascii-domain``).

    Args:
        text: what a user typed; surrounding blanks are ignored.
        smtputf8: accept a non-ASCII local part (``读者@example.org``), which only a relay
            with SMTPUTF8 can carry (``settings.mail.accepts_utf8_local_parts``).

    Raises:
        InvalidAddress: the address is empty, malformed, has an invalid domain, or a
            non-ASCII local part without ``smtputf8``.
    """
    candidate = text.strip()
    if not candidate:
        raise InvalidAddress("the e-mail address is empty")
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=smtputf8)
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        raise InvalidAddress(f"{candidate!r} is not a valid e-mail address: {reason}") from exc
    domain = (result.ascii_domain or result.domain).lower()
    local = result.ascii_local_part or result.local_part
    return f"{local}@{domain}"
