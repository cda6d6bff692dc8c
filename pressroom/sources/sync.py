"""One sync of one source: read what changed, check it, write only what moved.

A sync reads the rows whose tracked time is at or after ``watermark - overlap`` (the
overlap catches rows committed late or in the same second as the watermark), or every
row on a full pass (the first sync, ``--full``, and every ``reconcile`` seconds). Each row
is checked by the importer's :class:`~pressroom.importer.RowParser`; a bad row is reported
as ``source NAME: row KEY: reason`` and skipped, never the batch. A row is written only
when the hash of its checked values differs from the one stored for its URL
(``source_rows``): an edit without a new modification time is found by the next full
pass, and rows read again unchanged cost no write at all, so the feeds watch sees no
commit. A row that is not published and was never written is left out (drafts stay in
the CMS). A full pass also withdraws the articles this source wrote whose rows are gone
(deleted outright in the CMS). The watermark and state are written only when they move.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from pressroom.clock import Clock
from pressroom.errors import ImportRowError
from pressroom.importer import RowParser
from pressroom.line_index import KeySet
from pressroom.models import ArticleStatus
from pressroom.sources.candidate import EPOCH, Candidate, Reader
from pressroom.sources.values import content_hash
from pressroom.store.articles import UpsertCounts, upsert_articles, withdraw_articles
from pressroom.store.bulk import write_bisecting
from pressroom.store.engine import Store
from pressroom.store.notify import notify_articles
from pressroom.store.sources import (
    SourceState,
    forget_rows,
    has_rows,
    known_hashes,
    read_state,
    save_hashes,
    source_urls,
    write_state,
)

__all__ = ["SyncPolicy", "SyncReport", "sync_source"]

_PUBLISHED = ArticleStatus.PUBLISHED.value


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """How a source is synced: its name, ``overlap`` and ``reconcile`` (seconds)."""

    name: str
    overlap: float = 300.0
    reconcile: float = 86400.0


@dataclass
class SyncReport:
    """What one sync did."""

    source: str
    full: bool = False
    rows: int = 0
    bad: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> int:
        """Articles written or withdrawn (0: the sync wrote nothing)."""
        return self.counts.inserted + self.counts.updated + self.withdrawn

    def summary(self) -> str:
        """One line: the source, the pass, rows read and what became of them."""
        c = self.counts
        text = (
            f"source {self.source} ({'full' if self.full else 'incremental'}): {self.rows} rows: "
            f"{c.inserted} new, {c.updated} updated, {self.unchanged + c.unchanged} unchanged"
        )
        if self.withdrawn:
            text += f", {self.withdrawn} withdrawn"
        for reason, count in sorted(self.skipped.items()):
            text += f", {count} skipped ({reason})"
        return text + (f", {self.bad} bad rows skipped" if self.bad else "")


Checked = tuple[Candidate, dict[str, Any], str]  # the row, its checked values, their hash


def sync_source(
    policy: SyncPolicy,
    reader: Reader,
    parser: RowParser,
    store: Store,
    clock: Clock,
    *,
    full: bool = False,
    report_bad: Callable[[str], None],
) -> SyncReport:
    """Sync one source into ``store`` (see the module docstring).

    Args:
        full: read every row and withdraw the articles whose rows are gone, whatever the
            watermark says (also done when the last full pass is ``reconcile`` old).

    Raises:
        SourceError: the source cannot be read (nothing after the batches read is written).
        StoreError: the store failed.
    """
    now = clock()
    with store.read() as conn:
        state = read_state(conn, policy.name)
        fresh = not has_rows(conn, policy.name)
    full = full or _full_due(state, policy, now)
    since = EPOCH if full or state.watermark is None else _since(state.watermark, policy)
    report = SyncReport(policy.name, full=full)
    # A source with no rows yet has none to withdraw: every row it will have is read now.
    seen = KeySet() if full and not fresh else None
    newest = state.watermark
    try:
        writer = _Writer(store, policy.name, now, report_bad)
        try:
            for batch in reader.batches(since):
                checked = _check(batch, parser, report, report_bad, seen)
                writer.put(checked)
                newest = _newest(newest, checked, now)
        except BaseException:
            writer.finish(report, failing=True)  # what was read is still written
            raise
        writer.finish(report)
        if seen is not None:
            report.withdrawn = _withdraw_gone(store, policy.name, seen, now)
    finally:
        if seen is not None:
            seen.close()
    moved = SourceState(newest, now if full else state.full_at)
    if moved != state:
        with store.write() as conn:
            write_state(conn, policy.name, moved)
    return report


class _Writer:
    """Writes checked batches, one after another, on a thread of its own while the next
    batch is read and checked: the store's own work (SQLite's B-trees and commits,
    PostgreSQL's round trips) runs without the GIL beside the reading. At most one batch
    waits for it (memory stays flat); what it counts goes into a report of its own,
    added to the sync's at :meth:`finish`."""

    def __init__(
        self, store: Store, source: str, now: datetime, report_bad: Callable[[str], None]
    ) -> None:
        self.tally = SyncReport(source)
        self._store, self._now, self._report_bad = store, now, report_bad
        self._queue: queue.Queue[list[Checked] | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"sync-{source}", daemon=True)
        self._thread.start()

    def put(self, checked: list[Checked]) -> None:
        """Hand over a batch (waits while the one before it is still waiting).

        Raises:
            StoreError: writing an earlier batch failed (nothing after it is written).
        """
        self._raise_failure()
        self._queue.put(checked)

    def finish(self, report: SyncReport, *, failing: bool = False) -> None:
        """Wait until every batch handed over is written; add the counts to ``report``.

        Raises:
            StoreError: a batch could not be written (not raised when ``failing``: the
                sync's own failure is the one reported).
        """
        self._queue.put(None)
        self._thread.join()
        tally = self.tally
        report.unchanged += tally.unchanged
        report.bad += tally.bad
        report.skipped.update(tally.skipped)
        report.counts.add(tally.counts)
        if not failing:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while (checked := self._queue.get()) is not None:
            if self._failure is not None:
                continue  # drain: the reading side stops at its next put
            try:
                _write(
                    self._store, self.tally.source, checked, self._now, self.tally, self._report_bad
                )
            except BaseException as exc:  # raised again on the reading side
                self._failure = exc


def _full_due(state: SourceState, policy: SyncPolicy, now: datetime) -> bool:
    if state.watermark is None or state.full_at is None:
        return True
    return now - state.full_at >= timedelta(seconds=policy.reconcile)


def _since(watermark: datetime, policy: SyncPolicy) -> datetime:
    return max(EPOCH, watermark - timedelta(seconds=policy.overlap))


def _check(
    batch: Sequence[Candidate],
    parser: RowParser,
    report: SyncReport,
    report_bad: Callable[[str], None],
    seen: KeySet | None,
) -> list[Checked]:
    checked: dict[str, Checked] = {}  # by URL: a later row of the batch wins
    for row in batch:
        report.rows += 1
        if row.values is None:
            report.skipped[row.skip or "left out"] += 1
            continue
        try:
            values = parser.check(dict(row.values), texts=not row.clean)
        except ImportRowError as exc:
            report.bad += 1
            report_bad(f"source {report.source}: row {row.key}: {exc}")
            url = row.values.get("url")
            if seen is not None and isinstance(url, str):
                seen.add([url.strip()])  # a bad row is still there: never withdrawn for it
            continue
        checked.pop(values["url"], None)
        checked[values["url"]] = (row, values, content_hash(values))
    if seen is not None:
        seen.add(list(checked))
    return list(checked.values())


def _write(
    store: Store,
    source: str,
    checked: list[Checked],
    now: datetime,
    report: SyncReport,
    report_bad: Callable[[str], None],
) -> None:
    if not checked:
        return
    with store.read() as conn:
        known = known_hashes(conn, source, [values["url"] for _, values, _ in checked])
    wanted: list[Checked] = []
    for item in checked:
        _, values, digest = item
        stored = known.get(values["url"])
        if stored == digest:
            report.unchanged += 1
        elif stored is None and values["status"] != _PUBLISHED:
            report.skipped["not published"] += 1
        else:
            wanted.append(item)

    def write(conn: Connection, part: Sequence[Checked]) -> UpsertCounts:
        notify_articles(conn)  # PostgreSQL: wakes a watching worker when this commits
        counts = upsert_articles(conn, [values for _, values, _ in part], now)
        save_hashes(conn, source, {values["url"]: digest for _, values, digest in part})
        return counts

    def refused(item: Checked, reason: str) -> None:
        report.bad += 1
        report_bad(f"source {source}: row {item[0].key}: the store refused the row ({reason})")

    for counts in write_bisecting(store, wanted, write, refused):
        report.counts.add(counts)


def _newest(current: datetime | None, checked: list[Checked], now: datetime) -> datetime | None:
    """The watermark after ``checked``: their newest change, never beyond ``now``."""
    for _, values, _ in checked:
        changed = values["updated_at"] or values["published_at"]
        if current is None or changed > current:
            current = changed
    return min(current, now) if current is not None else None


def _withdraw_gone(store: Store, source: str, seen: KeySet, now: datetime) -> int:
    gone: list[str] = []
    with store.read() as conn:
        for page in source_urls(conn, source):
            gone.extend(seen.missing(page))
    if not gone:
        return 0
    with store.write() as conn:
        notify_articles(conn)
        withdrawn = withdraw_articles(conn, gone, now)
        forget_rows(conn, source, gone)
    return withdrawn
