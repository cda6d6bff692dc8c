"""One sync of one source: read what changed, check it, write only what moved.

A sync reads the rows whose tracked time is at or after ``watermark - overlap`` (the
overlap catches rows committed late or in the same second as the watermark), or every
row on a full pass (the first sync, ``--full``, and every ``reconcile`` seconds). Each row
is checked by the importer's :class:`~pressroom.importer.RowParser`
(:mod:`~pressroom.sources.checking`); a bad row is reported as ``source NAME: row KEY:
reason`` and skipped, never the batch. A row is written only when the hash of its checked
values differs from the one stored for its URL (:mod:`~pressroom.sources.writing`): an
edit without a new modification time is found by the next full pass, and rows read again
unchanged cost no write at all, so the feeds watch sees no commit. A full pass also
withdraws the articles this source wrote whose rows are gone (deleted outright in the
CMS). A large full pass is shared out to helper processes (:mod:`~pressroom.sources.fanout`).
The watermark and state are written only when they move.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pressroom.clock import Clock
from pressroom.importer import RowParser
from pressroom.line_index import KeySet
from pressroom.sources.candidate import EPOCH, Reader
from pressroom.sources.checking import BatchTally, Checked, check_batch
from pressroom.sources.fanout import RangeReader, helper_ranges, start_helpers
from pressroom.sources.writing import Written, write_checked
from pressroom.store.articles import UpsertCounts, withdraw_articles
from pressroom.store.engine import Store
from pressroom.store.notify import notify_articles
from pressroom.store.sources import (
    SourceState,
    forget_rows,
    has_rows,
    read_state,
    source_urls,
    write_state,
)

__all__ = ["SyncPolicy", "SyncReport", "sync_source"]


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
        ranges = helper_ranges(reader, since) if full else None
        helped = None
        if ranges is not None:  # a large full pass: helpers read, check and write
            assert isinstance(reader, RangeReader)
            helped = start_helpers(reader, parser, policy.name, since, ranges, store, now)
        if helped is not None:
            for synced in helped:
                newest = _count(synced.tally, report, report_bad, seen, newest, now)
                _add_written(synced.written, report, report_bad)
        else:
            writer = _Writer(store, policy.name, now, report_bad)
            try:
                for batch in reader.batches(since):
                    checked = check_batch(batch, parser, policy.name)
                    newest = _count(checked.tally, report, report_bad, seen, newest, now)
                    writer.put(checked.checked)
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
    waits for it (memory stays flat)."""

    def __init__(
        self, store: Store, source: str, now: datetime, report_bad: Callable[[str], None]
    ) -> None:
        self.written = Written()
        self._store, self._source, self._now = store, source, now
        self._report_bad = report_bad
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
        """Wait until every batch handed over is written; add what was written to ``report``.

        Raises:
            StoreError: a batch could not be written (not raised when ``failing``: the
                sync's own failure is the one reported).
        """
        self._queue.put(None)
        self._thread.join()
        _add_written(self.written, report, None)
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
                written = write_checked(self._store, self._source, checked, self._now)
            except BaseException as exc:  # raised again on the reading side
                self._failure = exc
                continue
            for line in written.refused:
                self._report_bad(line)
            self.written.add(written)


def _full_due(state: SourceState, policy: SyncPolicy, now: datetime) -> bool:
    if state.watermark is None or state.full_at is None:
        return True
    return now - state.full_at >= timedelta(seconds=policy.reconcile)


def _since(watermark: datetime, policy: SyncPolicy) -> datetime:
    return max(EPOCH, watermark - timedelta(seconds=policy.overlap))


def _count(
    tally: BatchTally,
    report: SyncReport,
    report_bad: Callable[[str], None],
    seen: KeySet | None,
    newest: datetime | None,
    now: datetime,
) -> datetime | None:
    """Add a batch's checks to ``report``; return the watermark after it (its newest
    change, never beyond ``now``)."""
    report.rows += tally.rows
    report.skipped.update(tally.skipped)
    report.bad += len(tally.bad)
    for line in tally.bad:
        report_bad(line)
    if seen is not None:
        seen.add(tally.urls)
    if tally.newest is not None and (newest is None or tally.newest > newest):
        newest = tally.newest
    return min(newest, now) if newest is not None else None


def _add_written(
    written: Written, report: SyncReport, report_bad: Callable[[str], None] | None
) -> None:
    """Add what was written to ``report`` (and say each refused row, unless already said)."""
    report.counts.add(written.counts)
    report.unchanged += written.unchanged
    if written.not_published:
        report.skipped["not published"] += written.not_published
    report.bad += len(written.refused)
    if report_bad is not None:
        for line in written.refused:
            report_bad(line)


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
