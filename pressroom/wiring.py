"""The one place where settings become objects: the store, the clock, the feeds' config.

Commands, the worker and the web app all start from a :class:`Runtime`; nothing else
reads the configuration file or the environment. :func:`feed_config` is where the
settings become the value the feeds build takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pressroom.clock import Clock, system_clock
from pressroom.config import Settings, load_settings
from pressroom.errors import ConfigError
from pressroom.models import Section
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store, open_store

if TYPE_CHECKING:
    from pressroom.feeds import FeedConfig

__all__ = ["Runtime", "check_feed_formats", "feed_config", "load_runtime"]


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
