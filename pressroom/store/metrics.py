"""What ``GET /metrics`` reports, read from the store at each scrape.

Nothing is kept between scrapes: a web process that cached what it once read would go on
reporting it after the store changed (a run counted ``abandoned`` that later ended ``ok``).
One :func:`read_snapshot` call is a fixed number of statements, each an index scan or a
scan of a small table (``digests``, ``workers``):

- ``deliveries`` are counted per digest run and status with ``ix_deliveries_digest_status``
  (an index-only scan; ``benchmarks/metrics_bench.py`` times it on a million rows).
- ``job_runs`` are counted by (job, shown outcome) in one grouped scan; a ``running`` row
  whose heartbeat is silent shows ``abandoned`` for as long as it stays silent.
- The newest success, the last duration and the first run of each job or schedule read
  one index entry each.

Times are the store's clock (:mod:`pressroom.store.store_time`), so one web process
reports the same ages whatever machine it runs on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from pressroom.models import BounceKind, DeliveryStatus, DigestStatus, JobKind, JobOutcome
from pressroom.store.bounces import count_by_kind
from pressroom.store.runs import SILENT_AFTER
from pressroom.store.schema import deliveries, digests, job_runs, subscribers, workers
from pressroom.store.store_time import db_now, now_expr
from pressroom.store.websub_pings import ping_totals

__all__ = [
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
    first_run: dict[str, datetime] = field(default_factory=dict)
    """schedule -> when its first recorded run started (any outcome)."""
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
    source_syncs: dict[tuple[str, str], int] = field(default_factory=dict)
    """(source, outcome) -> finished syncs (runs of the ``sources`` job named after it)."""
    source_changed: dict[str, int] = field(default_factory=dict)
    """source -> articles its syncs wrote or withdrew (``produced``, a counter)."""


def _delivery_counts(conn: Connection) -> dict[int, tuple[str, str, dict[str, int]]]:
    """Digest id -> (schedule, digest status, {delivery status: count}) for every run."""
    out: dict[int, tuple[str, str, dict[str, int]]] = {
        int(r.id): (str(r.schedule), str(r.status), {})
        for r in conn.execute(select(digests.c.id, digests.c.schedule, digests.c.status))
    }
    query = select(deliveries.c.digest_id, deliveries.c.status, func.count()).group_by(
        deliveries.c.digest_id, deliveries.c.status
    )
    for digest_id, status, number in conn.execute(query):
        if int(digest_id) in out:
            out[int(digest_id)][2][str(status)] = int(number)
    return out


@dataclass
class _RunTotals:
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    produced: int = 0
    seconds: float = 0.0


def _shown_outcome(conn: Connection) -> Any:
    """A run's outcome as shown: a ``running`` run whose heartbeat is silent is abandoned."""
    silent = func.coalesce(job_runs.c.seen_at, job_runs.c.started_at) < now_expr(
        conn, -SILENT_AFTER
    )
    running = job_runs.c.outcome == JobOutcome.RUNNING.value
    return case((and_(running, silent), JobOutcome.ABANDONED.value), else_=job_runs.c.outcome)


def _run_totals(conn: Connection) -> _RunTotals:
    """Counts by (job, shown outcome), running per job, feeds' files and seconds."""
    outcome = _shown_outcome(conn)
    done = and_(job_runs.c.finished_at.is_not(None), job_runs.c.outcome != JobOutcome.SKIPPED.value)
    feeds = and_(job_runs.c.job == "feeds", done)
    seconds = _seconds_between(conn, job_runs.c.started_at, job_runs.c.finished_at)
    query = select(
        job_runs.c.job,
        outcome,
        func.count(),
        func.sum(case((feeds, job_runs.c.produced), else_=0)),
        func.sum(case((feeds, seconds), else_=0)),
    ).group_by(job_runs.c.job, outcome)
    out = _RunTotals()
    for name, shown, number, produced, spent in conn.execute(query):
        if shown == JobOutcome.RUNNING.value:
            out.running[str(name)] = out.running.get(str(name), 0) + int(number)
        else:
            key = (str(name), str(shown))
            out.counts[key] = out.counts.get(key, 0) + int(number)
        out.produced += int(produced or 0)
        out.seconds += float(spent or 0)
    return out


def read_snapshot(
    conn: Connection,
    jobs: Sequence[str],
    schedules: Sequence[str] = (),
    sources: Sequence[str] = (),
) -> Snapshot:
    """Read every metric from the store (one read transaction, a bounded set of queries).

    Args:
        conn: a connection in a read transaction.
        jobs: the job kinds to report even when they never ran.
        schedules: the configured schedules, for :attr:`Snapshot.first_run`.
        sources: the configured sources, for :attr:`Snapshot.source_syncs` (no other).
    """
    snap = Snapshot(now=db_now(conn))
    for schedule, status, by_status in _delivery_counts(conn).values():
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
    totals = _run_totals(conn)
    snap.job_runs, snap.running = totals.counts, totals.running
    snap.feed_files_written, snap.feed_build_seconds = totals.produced, totals.seconds
    _read_newest(conn, snap, jobs)
    _read_sources(conn, snap, sources)
    _read_first_runs(conn, snap, schedules)
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


def _read_sources(conn: Connection, snap: Snapshot, sources: Sequence[str]) -> None:
    """Per configured source: its finished syncs by shown outcome, and what they changed
    (one grouped scan of the ``sources`` job's rows, ``ix_job_runs_job_started``)."""
    if not sources:
        return
    outcome = _shown_outcome(conn)
    query = (
        select(job_runs.c.schedule, outcome, func.count(), func.sum(job_runs.c.produced))
        .where(job_runs.c.job == JobKind.SOURCES.value, job_runs.c.schedule.in_(list(sources)))
        .group_by(job_runs.c.schedule, outcome)
    )
    for source, shown, number, produced in conn.execute(query):
        if shown == JobOutcome.RUNNING.value:
            continue
        name = str(source)
        snap.source_syncs[(name, str(shown))] = int(number)
        snap.source_changed[name] = snap.source_changed.get(name, 0) + int(produced or 0)


def _read_first_runs(conn: Connection, snap: Snapshot, schedules: Sequence[str]) -> None:
    """Per schedule: when its first run started (``ix_job_runs_schedule_started``)."""
    for schedule in schedules:
        first = conn.execute(
            select(func.min(job_runs.c.started_at)).where(job_runs.c.schedule == schedule)
        ).scalar()
        if first is not None:
            snap.first_run[schedule] = first


def _read_newest(conn: Connection, snap: Snapshot, jobs: Sequence[str]) -> None:
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
