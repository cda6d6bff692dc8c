"""Sending one message outside a ledger run (confirmation mails, test copies)."""

from __future__ import annotations

from pathlib import Path

from pressroom.config import MailSettings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.transport import make_transport

__all__ = ["send_one"]


async def send_one(mail: MailSettings, outbox: Path, msg: OutgoingMessage) -> None:
    """Deliver ``msg`` through the transport ``mail`` names, with its retries; record nothing.

    Args:
        mail: ``[mail]`` (the transport and its SMTP settings).
        outbox: the file transport's folder, already resolved.
        msg: the message.

    Raises:
        DeliveryError: a subclass from :mod:`pressroom.delivery.transport` (temporary,
            permanent, uncertain, or the server unreachable).
    """
    async with make_transport(mail, outbox) as transport:
        await transport.send(msg)
