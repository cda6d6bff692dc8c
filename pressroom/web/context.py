"""What every request handler shares: settings, store, clock, pages, limits and the mail sender."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pressroom.clock import Clock
from pressroom.config import Settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.store.engine import Store
from pressroom.tokens import make_token
from pressroom.web.files import FeedFiles
from pressroom.web.pages import Pages
from pressroom.web.ratelimit import Limiter, SharedRateLimiter, make_counter

__all__ = ["SendMail", "WebContext"]

SendMail = Callable[[OutgoingMessage], Awaitable[None]]
"""Hands one message to the configured transport (``pressroom.delivery.single.send_one``)."""

ADDRESS_MAILS_PER_HOUR = 3
"""Confirmation or notice mails one address gets per hour, whoever asks (anti mail-bombing)."""

TOKEN_REQUESTS_PER_MINUTE = 60
"""Requests with a link token one client may make a minute (slows token guessing)."""


@dataclass
class WebContext:
    """The app's shared state; one per :func:`pressroom.web.create_app` call."""

    settings: Settings
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
        cls, settings: Settings, store: Store, clock: Clock, secret: str, send: SendMail
    ) -> WebContext:
        """Wire the pieces from settings."""
        per_minute = settings.web.subscribe_per_minute
        redis_url = settings.web.redis_url
        counter = make_counter(
            store,
            redis_url.get_secret_value() if redis_url else None,
            # one Redis may serve several sites: each counts under its own public URL
            "pressroom:rl:" + hashlib.sha256(settings.web.public_url.encode()).hexdigest()[:12],
        )
        return cls(
            settings=settings,
            store=store,
            clock=clock,
            secret=secret,
            pages=Pages(settings),
            files=FeedFiles(settings.path(settings.feeds.output_dir)),
            send=send,
            subscribe_limit=SharedRateLimiter("subscribe", counter, per_minute, burst=per_minute),
            address_limit=SharedRateLimiter(
                "address", counter, ADDRESS_MAILS_PER_HOUR / 60, burst=ADDRESS_MAILS_PER_HOUR
            ),
            token_limit=SharedRateLimiter("token", counter, TOKEN_REQUESTS_PER_MINUTE),
            ingest_limit=SharedRateLimiter("ingest", counter, settings.web.ingest_per_minute),
        )

    @property
    def public_url(self) -> str:
        """The app's public base URL, ending in ``/``."""
        return self.settings.web.public_url

    def link(self, purpose: str, public_key: str, nonce: str | None = None) -> str:
        """A signed link: ``<public_url><purpose>/<token>`` (the shape mails also use).

        ``public_key`` is the subscriber's; ``nonce`` the open request's (confirm links).
        """
        token = make_token(self.secret, purpose, public_key, self.clock(), nonce)
        return f"{self.public_url}{purpose}/{token}"
