"""The part of the settings bounce processing reads, taken from :class:`Settings` once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pressroom.bounces.parse import Addresses
from pressroom.config import Settings
from pressroom.errors import ConfigError

__all__ = ["BounceConfig", "bounce_config"]


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
        address_fallback: ``[bounces] address_fallback``: whether a report without a token
            may name its subscriber by the address it reports.
    """

    source: str
    password: str | None
    ca_file: Path | None
    base_dir: Path
    addresses: Addresses
    soft_limit: int
    soft_window: timedelta
    address_fallback: bool = True


def bounce_config(settings: Settings) -> BounceConfig:
    """Bounce processing's view of ``settings``.

    Raises:
        ConfigError: ``[bounces] source`` or ``[web] secret`` is not set.
    """
    bounces, mail = settings.bounces, settings.mail
    problems = []
    if bounces.source is None:
        problems.append(
            "bounces.source: not set; name the mailbox bounces arrive in, e.g. "
            '"maildir:/var/mail/bounces" or "imaps://bounces@mail.example.org/INBOX"'
        )
    if settings.web.secret is None:
        problems.append("web.secret: not set; bounce tokens are checked with it")
    if problems or bounces.source is None or settings.web.secret is None:
        raise ConfigError(problems)
    password = bounces.password.get_secret_value() if bounces.password is not None else None
    return BounceConfig(
        source=bounces.source,
        password=password,
        ca_file=None if bounces.ca_file is None else settings.path(bounces.ca_file),
        base_dir=settings.base_dir,
        addresses=Addresses(
            secret=settings.web.secret.get_secret_value(),
            return_path=mail.return_path,
            unsubscribe_mailto=mail.unsubscribe_mailto,
        ),
        soft_limit=bounces.soft_limit,
        soft_window=timedelta(seconds=bounces.soft_window),
        address_fallback=bounces.address_fallback,
    )
