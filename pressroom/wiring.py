"""The one place where settings become objects: the store, the clock, the transports.

Commands, the worker and the web app all start from a :class:`Runtime`; nothing else
reads the configuration file or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from pressroom.clock import Clock, system_clock
from pressroom.config import Settings, SourceSettings, load_settings
from pressroom.errors import UsageError
from pressroom.models import Section
from pressroom.sources.service import SourceSpec
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store, open_store

__all__ = ["Runtime", "load_runtime"]


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

    def sources(self, name: str | None = None) -> list[SourceSpec]:
        """The configured sources (or the one called ``name``), ready to open.

        Raises:
            UsageError: no source is configured, or none is called ``name``.
        """
        configured = self.settings.sources
        if name is not None and name not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise UsageError(f"no source called {name!r} in [sources] (configured: {known})")
        if not configured:
            raise UsageError("no [sources.<name>] in the config: nothing to sync")
        return [self._source(n, configured[n]) for n in sorted(configured) if name in (None, n)]

    def _source(self, name: str, source: SourceSettings) -> SourceSpec:
        url = source.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            url = prefix + str(self.settings.path(Path(url[len(prefix) :])))
        zone = ZoneInfo(source.timezone or self.settings.site.timezone)
        return SourceSpec(name, source, url, zone)

    def close(self) -> None:
        """Release the store's connections."""
        if self._store is not None:
            self._store.dispose()
            self._store = None


def load_runtime(config_path: Path | None, clock: Clock = system_clock) -> Runtime:
    """Load and validate the config at ``config_path`` and wrap it in a :class:`Runtime`.

    Raises:
        ConfigError: the file is missing or invalid.
    """
    return Runtime(load_settings(config_path), clock=clock)
