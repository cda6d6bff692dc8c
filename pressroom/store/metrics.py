"""What ``GET /metrics`` reports, read from the store at scrape time.

One :func:`read_snapshot` call is a fixed number of statements, each an index scan or a
scan of a small table (``digests``, ``workers``), so a scrape stays cheap however many
deliveries the store holds:

- ``deliveries`` are counted per digest run with ``ix_deliveries_digest_status``. A run
  that is no longer open never changes its counts again, so :class:`DeliveryCounts`
  keeps them between scrapes (per process) and each scrape counts only the open runs and
  the runs that closed since the last scrape.
- ``job_runs`` totals work the same way (:class:`JobRunTotals`): every row below the
  oldest running one is finished for good, so its counts, files written and seconds are
  added once, and each scrape reads only the rows after that point (primary key range).
  The newest success and the last duration per job read one index entry each.

Times are the store's clock (:mod:`pressroom.store.store_time`), so one web process
reports the same ages whatever machine it runs on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from pressroom.models import BounceKind, DeliveryStatus, DigestStatus, JobOutcome
from pressroom.store.bounces import count_by_kind
from pressroom.store.runs import SILENT_AFTER
from pressroom.store.schema import deliveries, digests, job_runs, subscribers, workers
from pressroom.store.store_time import db_now, now_expr
from pressroom.store.websub_pings import ping_totals

__all__ = [
    "DeliveryCounts",
    "JobRunTotals",
    "MetricsCache",
    "Snapshot",
    "WorkerAge",
    "bounce_totals",
    "read_snapshot",
]

_OPEN_STATUSES = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)


@dataclass(frozen=True, slots=True)
class WorkerAge:
    """A worker row and the age of its heartbeat in seconds (store clock)."""

    id: str
    host: str
    age: float


@dataclass
class Snapshot:
    """Everything ``/metrics`` shows, as plain values (see :mod:`pressroom.web.routes_metrics`)."""

    now: datetime
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    """(schedule, finished status) -> deliveries ever recorded so (a counter)."""
    open_deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    """(schedule, queued|sending) -> deliveries of the schedule's open runs (a gauge)."""
    digest_runs: dict[tuple[str, str], int] = field(default_factory=dict)
    """(schedule, digest status) -> runs."""
    subscribers: dict[str, int] = field(default_factory=dict)
    job_runs: dict[tuple[str, str], int] = field(default_factory=dict)
    """(job, outcome) -> finished runs; a running run silent too long counts abandoned."""
    running: dict[str, int] = field(default_factory=dict)
    """job -> runs running now (with a live heartbeat)."""
    digest_completed: dict[str, datetime] = field(default_factory=dict)
    """digest schedule -> when its newest completed run completed."""
    job_success: dict[str, datetime] = field(default_factory=dict)
    """job -> when its newest ``ok`` run finished."""
    last_duration: dict[str, float] = field(default_factory=dict)
    """job -> seconds its newest finished run took."""
    feed_files_written: int = 0
    feed_build_seconds: float = 0.0
    workers: list[WorkerAge] = field(default_factory=list)
    bounces: dict[str, int] = field(default_factory=dict)
    """``bounce_events`` by kind (hard, soft, complaint, unsubscribe, auto-reply, unknown)."""
    websub_pings: dict[str, tuple[int, int]] = field(default_factory=dict)
    """WebSub hub -> feed URLs it accepted, and those given up on (counters)."""


class DeliveryCounts:
    """Per-run delivery counts kept between scrapes for runs that can no longer change."""

    def __init__(self) -> None:
        self._closed: dict[int, tuple[str, dict[str, int]]] = {}
        self._lock = threading.Lock()

    def read(self, conn: Connection) -> dict[int, tuple[str, str, dict[str, int]]]:
        """Digest id -> (schedule, digest status, {delivery status: count}) for every run."""
        runs = conn.execute(select(digests.c.id, digests.c.schedule, digests.c.status)).all()
        with self._lock:
            known = dict(self._closed)
        wanted = [int(r.id) for r in runs if r.status == DigestStatus.OPEN or r.id not in known]
        fresh: dict[int, dict[str, int]] = {i: {} for i in wanted}
        if wanted:
            query = (
                select(deliveries.c.digest_id, deliveries.c.status, func.count())
                .where(deliveries.c.digest_id.in_(wanted))
                .group_by(deliveries.c.digest_id, deliveries.c.status)
            )
            for digest_id, status, number in conn.execute(query):
                fresh[int(digest_id)][str(status)] = int(number)
        out: dict[int, tuple[str, str, dict[str, int]]] = {}
        closed: dict[int, tuple[str, dict[str, int]]] = {}
        for r in runs:
            counts = fresh[r.id] if r.id in fresh else known[r.id][1]
            out[int(r.id)] = (str(r.schedule), str(r.status), counts)
            if r.status != DigestStatus.OPEN:
                closed[int(r.id)] = (str(r.schedule), counts)
        with self._lock:
            self._closed.update(closed)
        return out


@dataclass
class _RunTotals:
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    produced: int = 0
    seconds: float = 0.0

    def add(self, other: _RunTotals) -> _RunTotals:
        out = _RunTotals(dict(self.counts), dict(self.running), self.produced, self.seconds)
        for key, number in other.counts.items():
            out.counts[key] = out.counts.get(key, 0) + number
        for job, number in other.running.items():
            out.running[job] = out.running.get(job, 0) + number
        out.produced += other.produced
        out.seconds += other.seconds
        return out


class JobRunTotals:
    """``job_runs`` totals, the finished prefix of the table added up once per process.

    Every row before the oldest run still alive (running, with a fresh heartbeat) can no
    longer change how it is shown, so it is added once; a scrape reads the rest.
    """

    def __init__(self) -> None:
        self._upto = 0  # every row with an id up to here is finished and counted
        self._stable = _RunTotals()
        self._lock = threading.Lock()

    def read(self, conn: Connection) -> _RunTotals:
        """Totals over every row: the kept prefix plus the rows after it."""
        # A running row with a live heartbeat may still change; a silent one shows (and
        # stays) abandoned, so it does not hold the finished prefix back.
        alive = func.coalesce(job_runs.c.seen_at, job_runs.c.started_at) >= now_expr(
            conn, -SILENT_AFTER
        )
        oldest_running = conn.execute(
            select(func.min(job_runs.c.id)).where(
                job_runs.c.outcome == JobOutcome.RUNNING.value, alive
            )
        ).scalar()
        newest = int(conn.execute(select(func.max(job_runs.c.id))).scalar() or 0)
        stable_to = int(oldest_running) - 1 if oldest_running is not None else newest
        with self._lock:
            upto, stable = self._upto, self._stable
        if stable_to > upto:
            stable = stable.add(_totals(conn, upto, stable_to))
            upto = stable_to
            with self._lock:
                if upto > self._upto:
                    self._upto, self._stable = upto, stable
        return stable.add(_totals(conn, upto, None))


def _totals(conn: Connection, after: int, upto: int | None) -> _RunTotals:
    """Counts by (job, shown outcome), running per job, feeds' files and seconds, for ids in
    ``(after, upto]`` (a primary key range; ``upto`` None: to the end)."""
    rows = job_runs.c.id > after
    if upto is not None:
        rows = and_(rows, job_runs.c.id <= upto)
    silent = func.coalesce(job_runs.c.seen_at, job_runs.c.started_at) < now_expr(
        conn, -SILENT_AFTER
    )
    running = job_runs.c.outcome == JobOutcome.RUNNING.value
    outcome = case((and_(running, silent), JobOutcome.ABANDONED.value), else_=job_runs.c.outcome)
    done = and_(job_runs.c.finished_at.is_not(None), job_runs.c.outcome != JobOutcome.SKIPPED.value)
    feeds = and_(job_runs.c.job == "feeds", done)
    seconds = _seconds_between(conn, job_runs.c.started_at, job_runs.c.finished_at)
    # Grouping by an expression, not the column, keeps SQLite on the primary key range
    # (grouping by the column walks a whole job index instead).
    job = func.coalesce(job_runs.c.job, "")
    query = (
        select(
            job,
            outcome,
            func.count(),
            func.sum(case((feeds, job_runs.c.produced), else_=0)),
            func.sum(case((feeds, seconds), else_=0)),
        )
        .where(rows)
        .group_by(job, outcome)
    )
    out = _RunTotals()
    for name, shown, number, produced, spent in conn.execute(query):
        if shown == JobOutcome.RUNNING.value:
            out.running[str(name)] = out.running.get(str(name), 0) + int(number)
        else:
            out.counts[(str(name), str(shown))] = int(number)
        out.produced += int(produced or 0)
        out.seconds += float(spent or 0)
    return out


@dataclass
class MetricsCache:
    """What a web process keeps between scrapes: the parts of the store that cannot change."""

    deliveries: DeliveryCounts = field(default_factory=DeliveryCounts)
    job_runs: JobRunTotals = field(default_factory=JobRunTotals)


def read_snapshot(conn: Connection, cache: MetricsCache, jobs: list[str]) -> Snapshot:
    """Read every metric from the store (one read transaction, a bounded set of queries).

    Args:
        conn: a connection in a read transaction.
        cache: the process's :class:`MetricsCache`.
        jobs: the job kinds to report even when they never ran.
    """
    snap = Snapshot(now=db_now(conn))
    for _, (schedule, status, by_status) in cache.deliveries.read(conn).items():
        key = (schedule, status)
        snap.digest_runs[key] = snap.digest_runs.get(key, 0) + 1
        for delivery_status, number in by_status.items():
            if delivery_status in _OPEN_STATUSES:
                if status == DigestStatus.OPEN:
                    pair = (schedule, delivery_status)
                    snap.open_deliveries[pair] = snap.open_deliveries.get(pair, 0) + number
                continue
            pair = (schedule, delivery_status)
            snap.deliveries[pair] = snap.deliveries.get(pair, 0) + number
    query = select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
    snap.subscribers = {str(s): int(n) for s, n in conn.execute(query)}
    totals = cache.job_runs.read(conn)
    snap.job_runs, snap.running = totals.counts, totals.running
    snap.feed_files_written, snap.feed_build_seconds = totals.produced, totals.seconds
    _read_newest(conn, snap, jobs)
    completed = (
        select(digests.c.schedule, func.max(digests.c.completed_at))
        .where(digests.c.status == DigestStatus.COMPLETED.value)
        .group_by(digests.c.schedule)
    )
    snap.digest_completed = {str(s): at for s, at in conn.execute(completed) if at is not None}
    now = snap.now
    snap.workers = [
        WorkerAge(str(w.id), str(w.host), (now - w.seen_at).total_seconds())
        for w in conn.execute(select(workers.c.id, workers.c.host, workers.c.seen_at))
    ]
    snap.bounces = bounce_totals(conn)
    snap.websub_pings = ping_totals(conn)
    return snap


def _read_newest(conn: Connection, snap: Snapshot, jobs: list[str]) -> None:
    """Per job: when its newest ``ok`` run finished, how long its newest run took."""
    for job in jobs:
        snap.running.setdefault(job, 0)
        ok = select(func.max(job_runs.c.finished_at)).where(
            job_runs.c.job == job, job_runs.c.outcome == JobOutcome.OK.value
        )
        finished = conn.execute(ok).scalar()
        if finished is not None:
            snap.job_success[job] = finished
        last = conn.execute(
            select(job_runs.c.started_at, job_runs.c.finished_at)
            .where(job_runs.c.job == job, job_runs.c.finished_at.is_not(None))
            .where(job_runs.c.outcome != JobOutcome.SKIPPED.value)
            .order_by(job_runs.c.started_at.desc())
            .limit(1)
        ).first()
        if last is not None:
            snap.last_duration[job] = max(0.0, (last[1] - last[0]).total_seconds())


def _seconds_between(conn: Connection, start: Any, end: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def bounce_totals(conn: Connection) -> dict[str, int]:
    """Inbound events of the bounce mailbox by kind (``hard``, ``soft``, ``complaint``, ...).

    One grouped scan of ``bounce_events`` (one row per inbound message, far fewer than
    deliveries); every kind is a key, zero when none arrived.
    """
    found = count_by_kind(conn)
    return {kind.value: found.get(kind, 0) for kind in BounceKind}
