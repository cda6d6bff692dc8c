"""Sending one message outside a digest run (confirmation mails, ``digest send --to``)."""

from __future__ import annotations

from pressroom.config import Settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.transport import make_transport

__all__ = ["send_one"]


async def send_one(settings: Settings, msg: OutgoingMessage) -> None:
    """Deliver ``msg`` through the configured transport, with its retries; record nothing.

    Raises:
        DeliveryError: a subclass from :mod:`pressroom.delivery.transport` (temporary,
            permanent, uncertain, or the server unreachable).
    """
    async with make_transport(settings) as transport:
        await transport.send(msg)
