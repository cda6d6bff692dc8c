"""The value that passes from message composition to the transports."""

from __future__ import annotations

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
    """

    sender: str
    recipient: str
    data: bytes
    message_id: str
