"""The value that passes from message composition to the transports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["OutgoingMessage"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message ready for the wire.

    Attributes:
        sender: the envelope sender (SMTP ``MAIL FROM``).
        recipient: the envelope recipient (SMTP ``RCPT TO``), one per message.
        data: the whole message, headers and body, with CRLF line endings.
        message_id: the ``Message-ID`` header's value, with its angle brackets.
        seven_bit: makes the same message with 7bit-safe bodies (quoted-printable), for a
            relay without 8BITMIME; when None, the transport converts ``data`` itself
            (:func:`~pressroom.delivery.mime.seven_bit`: slower, and it would break a
            DKIM signature, so a signing composer passes its own).
    """

    sender: str
    recipient: str
    data: bytes
    message_id: str
    seven_bit: Callable[[], bytes] | None = None
