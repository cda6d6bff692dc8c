"""A configured source, opened and synced: what ``sources sync`` and the worker's job call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pressroom.clock import Clock
from pressroom.config import SqlSourceSettings, WordPressSourceSettings
from pressroom.errors import SourceError, UsageError
from pressroom.importer import RowParser
from pressroom.models import Section
from pressroom.sources.candidate import Reader
from pressroom.sources.reader import SourceDatabase
from pressroom.sources.sql import SqlReader
from pressroom.sources.sync import SyncPolicy, SyncReport, sync_source
from pressroom.sources.wordpress import WordPressReader, WordPressSite
from pressroom.store.articles import list_sections
from pressroom.store.engine import Store

__all__ = ["SourceSpec", "SourceSyncs", "section_keys", "sync_one"]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One ``[sources.<name>]``, with its URL resolved and its zone decided."""

    name: str
    settings: SqlSourceSettings | WordPressSourceSettings
    url: str
    zone: ZoneInfo

    @property
    def policy(self) -> SyncPolicy:
        """Its name, overlap and reconcile period."""
        s = self.settings
        return SyncPolicy(self.name, overlap=s.overlap, reconcile=s.reconcile)

    def open(self, sections: list[Section]) -> Reader:
        """A reader of the source (connections are opened on first read)."""
        s = self.settings
        password = s.password.get_secret_value() if s.password is not None else None
        db = SourceDatabase(self.name, self.url, password, timeout=s.timeout)
        if isinstance(s, SqlSourceSettings):
            return SqlReader(self.name, db, s.query, self.zone, batch=s.batch)
        keys = section_keys(sections)
        for category, slug in s.section_map.items():
            if slug not in keys:
                raise UsageError(
                    f"sources.{self.name}.section_map: {category!r} names section {slug!r}, "
                    "which [[sections]] does not have"
                )
            keys[category] = keys[category.lower()] = keys[slug]
        site = WordPressSite(s.table_prefix, s.home, s.permalink, keys, s.views_meta_key)
        return WordPressReader(self.name, db, site, self.zone, batch=s.batch)


def section_keys(sections: list[Section]) -> dict[str, str]:
    """Every key a row may name a section by (slug, name, lower-case) -> its slug."""
    keys: dict[str, str] = {}
    for s in sections:
        for key in (s.slug, s.name, s.name.lower()):
            keys.setdefault(key, s.slug)
    return keys


def sync_one(
    spec: SourceSpec,
    store: Store,
    clock: Clock,
    *,
    full: bool = False,
    reader: Reader | None = None,
    report_bad: Callable[[str], None],
) -> SyncReport:
    """Sync ``spec`` once; ``reader`` lets the worker keep one open between syncs.

    Raises:
        UsageError: the store has no sections.
        SourceError: the source cannot be read.
    """
    with store.read() as conn:
        sections = list_sections(conn)
    if not sections:
        raise UsageError("the store has no sections; add [[sections]] to the config first")
    own = reader is None
    reader = reader or spec.open(sections)
    try:
        parser = RowParser(section_keys(sections), spec.zone)
        return sync_source(
            spec.policy, reader, parser, store, clock, full=full, report_bad=report_bad
        )
    finally:
        if own:
            reader.close()


class SourceSyncs:
    """The worker's syncs: each source's reader kept open between syncs (a connection per
    sync would cost more than an incremental sync), dropped after a failure so the next
    sync connects afresh. A bad row is reported once while it stays bad: the overlap reads
    it again every few seconds."""

    def __init__(self, specs: list[SourceSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self._readers: dict[str, Reader] = {}
        self._reported: dict[str, set[str]] = {}

    def sync(
        self,
        name: str,
        store: Store,
        clock: Clock,
        *,
        full: bool = False,
        report_bad: Callable[[str], None],
    ) -> SyncReport:
        """Sync the source ``name`` once (see :func:`sync_one`)."""
        spec = self.specs[name]
        reader = self._readers.get(name)
        if reader is None:
            with store.read() as conn:
                reader = self._readers[name] = spec.open(list_sections(conn))
        before = self._reported.get(name, set())
        now: set[str] = set()

        def once(line: str) -> None:
            now.add(line)
            if line not in before:
                report_bad(line)

        try:
            report = sync_one(spec, store, clock, full=full, reader=reader, report_bad=once)
            self._reported[name] = now
            return report
        except SourceError:
            self._readers.pop(name).close()
            raise

    def close(self) -> None:
        """Close every source's connections."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
