"""The one place where settings become objects: the store, the clock, each part's config.

Commands, the worker and the web app all start from a :class:`Runtime`; nothing else
reads the configuration file or the environment. The entry points hand each part only
its own config, built here from the settings: :func:`feed_config` for the feeds,
:func:`digest_config` for the digest, :func:`bounce_config` for the bounce mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from pressroom.bounces.config import BounceConfig
from pressroom.bounces.link_mail import LinkMail
from pressroom.bounces.parse import Addresses
from pressroom.clock import Clock, system_clock
from pressroom.config import Settings, SourceSettings, load_settings
from pressroom.digest.archive import ARCHIVE_FOLDER
from pressroom.digest.config import DigestConfig
from pressroom.digest.plan import digest_schedules
from pressroom.errors import ConfigError, UsageError
from pressroom.models import Section
from pressroom.sources.service import SourceSpec
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store, open_store

if TYPE_CHECKING:
    from pressroom.feeds import FeedConfig

__all__ = [
    "Runtime",
    "bounce_config",
    "check_feed_formats",
    "digest_config",
    "feed_config",
    "load_runtime",
    "source_specs",
]


@dataclass
class Runtime:
    """Validated settings plus the objects built from them, created on first use."""

    settings: Settings
    clock: Clock = system_clock
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on first use; configured sections synced."""
        if self._store is None:
            self._store = open_store(
                self.settings.store_url, busy_timeout=self.settings.store.busy_timeout
            )
            if self.settings.sections:
                wanted = [Section(s.slug, s.name, s.weight) for s in self.settings.sections]
                with self._store.write() as conn:
                    sync_sections(conn, wanted)
        return self._store

    def close(self) -> None:
        """Release the store's connections."""
        if self._store is not None:
            self._store.dispose()
            self._store = None


def load_runtime(config_path: Path | None, clock: Clock = system_clock) -> Runtime:
    """Load and validate the config at ``config_path`` and wrap it in a :class:`Runtime`.

    Raises:
        ConfigError: the file is missing or invalid (a ``[feeds] formats`` value that is
            not a registered feed format among them).
    """
    settings = load_settings(config_path)
    check_feed_formats(settings)
    return Runtime(settings, clock=clock)


def check_feed_formats(settings: Settings) -> None:
    """Refuse a ``[feeds] formats`` value that no registered feed format answers to.

    The configuration cannot know the formats (it sits below :mod:`pressroom.feeds`): the
    registry (:mod:`pressroom.feeds.formats`) is asked here, when the settings are loaded.

    Raises:
        ConfigError: one line per unknown format, naming the known ones.
    """
    from pressroom.feeds.formats import unknown_format_problems  # the feeds load lazily

    problems = unknown_format_problems(settings.feeds.formats)
    if problems:
        label = str(settings.source) if settings.source is not None else "environment"
        raise ConfigError([f"{label}: {problem}" for problem in problems])


def feed_config(settings: Settings) -> FeedConfig:
    """The feeds' part of ``settings``: what :func:`pressroom.feeds.build_feeds` takes.

    Build it once and keep it (the worker does): its ``settings_key`` is computed once
    per config.

    Raises:
        ConfigError: a ``[feeds] formats`` value is not a registered feed format.
    """
    from pressroom.feeds import FeedConfig

    check_feed_formats(settings)
    return FeedConfig(
        site=settings.site,
        feeds=settings.feeds,
        public_url=settings.feeds_public_url,
        rules=settings.digest,
        sections=tuple(settings.sections),
        output_dir=settings.path(settings.feeds.output_dir).resolve(),
    )


def digest_config(settings: Settings) -> DigestConfig:
    """The digest's part of ``settings``, paths resolved.

    Raises:
        ConfigError: ``[web] secret`` is not set (digest links cannot be signed).
    """
    site, mail, digest = settings.site, settings.mail, settings.digest
    dkim = mail.dkim
    if dkim is not None:
        dkim = dkim.model_copy(update={"key_file": settings.path(dkim.key_file)})
    templates = digest.templates_dir
    return DigestConfig(
        site_name=site.name,
        site_url=site.base_url,
        language=site.language,
        postal_address=site.postal_address,
        site_timezone=site.timezone,
        mail=mail,
        outbox=settings.path(mail.outbox),
        dkim=dkim,
        public_url=settings.web.public_url,
        secret=_digest_secret(settings),
        rules=digest,
        importance=digest.importance,
        templates_dir=None if templates is None else settings.path(templates),
        section_weights=settings.section_weights,
        schedules=tuple(digest_schedules(settings.schedules)),
        archive_dir=_archive_dir(settings),
        archive_url=urljoin(_with_slash(settings.feeds_public_url), f"{ARCHIVE_FOLDER}/"),
    )


def _archive_dir(settings: Settings) -> Path | None:
    if not settings.digest.archive:
        return None
    return settings.path(settings.feeds.output_dir).resolve() / ARCHIVE_FOLDER


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _digest_secret(settings: Settings) -> str:
    secret = settings.web.secret
    if secret is None:
        raise ConfigError(
            [
                "web.secret: not set; digest links need it to sign unsubscribe tokens "
                "(set it in pressroom.toml or $PRESSROOM_WEB__SECRET)"
            ]
        )
    return secret.get_secret_value()


def bounce_config(settings: Settings) -> BounceConfig:
    """Bounce processing's part of ``settings``, paths resolved.

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
        max_message_bytes=bounces.max_message_bytes,
        link_mail=LinkMail(
            site_name=settings.site.name,
            mail=mail,
            outbox=settings.path(mail.outbox),
            public_url=settings.web.public_url,
        ),
    )


def source_specs(settings: Settings, name: str | None = None) -> list[SourceSpec]:
    """The configured ``[sources.<name>]`` (or the one called ``name``), ready to open:
    a relative SQLite path resolved against the config file's folder, the zone decided.

    Raises:
        UsageError: no source is called ``name``.
    """
    configured = settings.sources
    if name is not None and name not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise UsageError(f"no source called {name!r} in [sources] (configured: {known})")
    return [
        _source_spec(settings, n, configured[n]) for n in sorted(configured) if name in (None, n)
    ]


def _source_spec(settings: Settings, name: str, source: SourceSettings) -> SourceSpec:
    url = source.url
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        url = prefix + str(settings.path(Path(url[len(prefix) :])))
    zone = ZoneInfo(source.timezone or settings.site.timezone)
    return SourceSpec(name, source, url, zone)
