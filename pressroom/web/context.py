"""What every request handler shares: config, store, clock, pages, limits and the mail sender."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pressroom.clock import Clock
from pressroom.config import MailSettings, ScheduleSettings, SiteSettings, WebSettings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.store.engine import Store
from pressroom.tokens import make_token
from pressroom.web.files import FeedFiles
from pressroom.web.pages import Pages
from pressroom.web.ratelimit import Limiter, SharedRateLimiter, make_counter

__all__ = ["SendMail", "WebConfig", "WebContext"]

SendMail = Callable[[OutgoingMessage], Awaitable[None]]
"""Hands one message to the configured transport (``pressroom.delivery.single.send_one``)."""

ADDRESS_MAILS_PER_HOUR = 3
"""Confirmation or notice mails one address gets per hour, whoever asks (anti mail-bombing)."""

TOKEN_REQUESTS_PER_MINUTE = 60
"""Requests with a link token one client may make a minute (slows token guessing)."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The part of the settings the web app reads, paths resolved against the config file's
    folder; :func:`pressroom.web.create_app` builds it.

    Attributes:
        site: ``[site]``: the name, URL and language pages show; the confirmation mail's.
        web: ``[web]``: the public URL, limits, Redis, the confirm links' lifetime, the
            metrics token.
        mail: ``[mail]``: the confirmation mail's sender, and which addresses may subscribe.
        outbox: ``[mail] outbox`` resolved (the file transport's folder).
        feeds_dir: ``[feeds] output_dir`` resolved: the files the app serves.
        feeds_url: ``[feeds] public_url`` (else ``[web] public_url``): where the feeds
            are served, the prefix of their ``rel="self"`` links.
        hubs: ``[feeds] websub_hub``: the WebSub hubs every feed response names.
        feed_ttl: ``[feeds] ttl``, minutes (how long a served feed may be cached).
        schedules: ``[[schedules]]``, for ``/metrics``.
        sources: the names of ``[sources.<name>]``, for ``/metrics`` (its ``source`` label).
    """

    site: SiteSettings
    web: WebSettings
    mail: MailSettings
    outbox: Path
    feeds_dir: Path
    feeds_url: str
    hubs: tuple[str, ...]
    feed_ttl: int
    schedules: tuple[ScheduleSettings, ...]
    sources: tuple[str, ...] = ()


@dataclass
class WebContext:
    """The app's shared state; one per :func:`pressroom.web.create_app` call."""

    config: WebConfig
    store: Store
    clock: Clock
    secret: str
    pages: Pages
    files: FeedFiles
    send: SendMail
    subscribe_limit: Limiter
    address_limit: Limiter
    token_limit: Limiter
    ingest_limit: Limiter
    memo: dict[str, Any] = field(default_factory=dict)
    """Small caches (the section list, the index page), replaced whole, never mutated."""

    @classmethod
    def build(
        cls, config: WebConfig, store: Store, clock: Clock, secret: str, send: SendMail
    ) -> WebContext:
        """Wire the pieces from ``config``."""
        per_minute = config.web.subscribe_per_minute
        redis_url = config.web.redis_url
        counter = make_counter(
            store,
            redis_url.get_secret_value() if redis_url else None,
            # one Redis may serve several sites: each counts under its own public URL
            "pressroom:rl:" + hashlib.sha256(config.web.public_url.encode()).hexdigest()[:12],
        )
        return cls(
            config=config,
            store=store,
            clock=clock,
            secret=secret,
            pages=Pages(config.site),
            files=FeedFiles(config.feeds_dir),
            send=send,
            subscribe_limit=SharedRateLimiter("subscribe", counter, per_minute, burst=per_minute),
            address_limit=SharedRateLimiter(
                "address", counter, ADDRESS_MAILS_PER_HOUR / 60, burst=ADDRESS_MAILS_PER_HOUR
            ),
            token_limit=SharedRateLimiter("token", counter, TOKEN_REQUESTS_PER_MINUTE),
            ingest_limit=SharedRateLimiter("ingest", counter, config.web.ingest_per_minute),
        )

    @property
    def public_url(self) -> str:
        """The app's public base URL, ending in ``/``."""
        return self.config.web.public_url

    def link(self, purpose: str, public_key: str, nonce: str | None = None) -> str:
        """A signed link: ``<public_url><purpose>/<token>`` (the shape mails also use).

        ``public_key`` is the subscriber's; ``nonce`` the open request's (confirm links).
        """
        token = make_token(self.secret, purpose, public_key, self.clock(), nonce)
        return f"{self.public_url}{purpose}/{token}"
