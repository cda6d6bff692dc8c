"""The one place where settings become objects: the store, the clock, the transports.

Commands, the worker and the web app all start from a :class:`Runtime`; nothing else
reads the configuration file or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pressroom.clock import Clock, system_clock
from pressroom.config import Settings, load_settings
from pressroom.models import Section
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
