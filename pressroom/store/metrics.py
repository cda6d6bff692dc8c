"""What ``GET /metrics`` reports, read from the store at scrape time.

One :func:`read_snapshot` call is a fixed number of statements, each an index scan or a
scan of a small table (``digests``, ``workers``), so a scrape stays cheap however many
deliveries the store holds:

- ``deliveries`` are counted per digest run with ``ix_deliveries_digest_status``. A run
  that is no longer open never changes its counts again, so :class:`DeliveryCounts`
  keeps them between scrapes (per process) and each scrape counts only the open runs and
  the runs that closed since the last scrape.
- ``job_runs`` by job and outcome is an index-only scan of
  ``ix_job_runs_job_outcome_finished``; the newest success and the last duration per job
  read one index entry each.

Times are the store's clock (:mod:`pressroom.store.store_time`), so one web process
reports the same ages whatever machine it runs on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from pressroom.models import DeliveryStatus, DigestStatus, JobOutcome
from pressroom.store.runs import SILENT_AFTER
from pressroom.store.schema import deliveries, digests, job_runs, subscribers, workers
from pressroom.store.store_time import db_now, now_expr

__all__ = ["DeliveryCounts", "Snapshot", "WorkerAge", "bounce_totals", "read_snapshot"]

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
    schedule_success: dict[str, datetime] = field(default_factory=dict)
    """schedule -> when its newest ``ok`` run finished (digest: its newest completed run)."""
    last_duration: dict[str, float] = field(default_factory=dict)
    """job -> seconds its newest finished run took."""
    feed_files_written: int = 0
    feed_build_seconds: float = 0.0
    workers: list[WorkerAge] = field(default_factory=list)
    bounces: dict[str, int] | None = None
    """kind (``bounce``, ``complaint``) -> events; None until ``bounce_events`` exists."""


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


def read_snapshot(conn: Connection, counts: DeliveryCounts, jobs: list[str]) -> Snapshot:
    """Read every metric from the store (one read transaction, a bounded set of queries).

    Args:
        conn: a connection in a read transaction.
        counts: the process's :class:`DeliveryCounts` (keeps closed runs' counts).
        jobs: the job kinds to report even when they never ran.
    """
    snap = Snapshot(now=db_now(conn))
    for _, (schedule, status, by_status) in counts.read(conn).items():
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
    _read_job_runs(conn, snap, jobs)
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
    return snap


def _read_job_runs(conn: Connection, snap: Snapshot, jobs: list[str]) -> None:
    silent = func.coalesce(job_runs.c.seen_at, job_runs.c.started_at) < now_expr(
        conn, -SILENT_AFTER
    )
    running = job_runs.c.outcome == JobOutcome.RUNNING.value
    outcome = case((and_(running, silent), JobOutcome.ABANDONED.value), else_=job_runs.c.outcome)
    query = select(job_runs.c.job, outcome, func.count()).group_by(job_runs.c.job, outcome)
    for job, shown, number in conn.execute(query):
        if shown == JobOutcome.RUNNING.value:
            snap.running[str(job)] = int(number)
        else:
            snap.job_runs[(str(job), str(shown))] = int(number)
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
    per_schedule = (
        select(job_runs.c.schedule, func.max(job_runs.c.finished_at))
        .where(job_runs.c.outcome == JobOutcome.OK.value, job_runs.c.schedule != "")
        .group_by(job_runs.c.schedule)
    )
    snap.schedule_success = {str(s): at for s, at in conn.execute(per_schedule) if at}
    feeds = job_runs.c.job == "feeds"
    seconds = _seconds_between(conn, job_runs.c.started_at, job_runs.c.finished_at)
    totals = conn.execute(
        select(func.coalesce(func.sum(job_runs.c.produced), 0), func.coalesce(func.sum(seconds), 0))
        .where(feeds, job_runs.c.finished_at.is_not(None))
        .where(job_runs.c.outcome != JobOutcome.SKIPPED.value)
    ).one()
    snap.feed_files_written, snap.feed_build_seconds = int(totals[0]), float(totals[1])


def _seconds_between(conn: Connection, start: Any, end: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def bounce_totals(conn: Connection) -> dict[str, int] | None:
    """Bounce and complaint events by kind (``bounce``, ``complaint``), for /metrics.

    EXTENSION POINT for the bounces work (issue 12): once migration 0005 creates
    ``bounce_events``, count its rows by kind here (one grouped index scan) and return
    ``{"bounce": n, "complaint": m}``; ``/metrics`` then exports ``pressroom_bounces_total``
    and ``pressroom_complaints_total`` and the alert rules in
    ``examples/prometheus/alerts.yml`` that watch them start to work. Until then there
    are no such events, and None leaves both families out.
    """
    del conn
    return None
