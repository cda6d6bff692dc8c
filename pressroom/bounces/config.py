"""The part of the settings bounce processing reads (:func:`pressroom.wiring.bounce_config`
builds it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pressroom.bounces.link_mail import LinkMail
from pressroom.bounces.parse import Addresses

__all__ = ["BounceConfig"]


@dataclass(frozen=True, slots=True)
class BounceConfig:
    """Where inbound mail is read, how tokens are checked, when soft bounces count.

    Attributes:
        source: ``[bounces] source`` (``maildir:/path`` or ``imaps://user@host/INBOX``).
        password: the IMAP password (``$PRESSROOM_BOUNCES__PASSWORD``), or None.
        ca_file: ``[bounces] ca_file`` resolved: the CA that IMAP's TLS certificate must chain to.
        base_dir: the config file's folder (relative Maildir paths).
        addresses: the VERP bases and ``[web] secret``.
        soft_limit: soft bounces within ``soft_window`` that mark an address bounced.
        soft_window: ``[bounces] soft_window``.
        address_fallback: ``[bounces] address_fallback``: whether a bounce without a token
            may name its subscriber by the address it reports.
        max_message_bytes: ``[bounces] max_message_bytes``: bigger messages are set aside.
        link_mail: how to answer a mailto unsubscribe without a valid token (the link mail);
            None sends nothing.
    """

    source: str
    password: str | None
    ca_file: Path | None
    base_dir: Path
    addresses: Addresses
    soft_limit: int
    soft_window: timedelta
    address_fallback: bool = False
    max_message_bytes: int = 2 * 1024 * 1024
    link_mail: LinkMail | None = None
