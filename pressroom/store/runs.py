"""The worker's tables: ``job_runs``, ``leases`` and ``workers`` (plus one digest read-out).

Functions take a :class:`~sqlalchemy.Connection` so the caller owns the transaction. The
lease functions are single statements, so they are atomic on PostgreSQL under READ
COMMITTED (a concurrent UPDATE of the same row waits and re-checks its WHERE clause) and
on SQLite inside :meth:`~pressroom.store.engine.Store.write` (``BEGIN IMMEDIATE``).

Lease expiries, worker heartbeats and run heartbeats are written and judged by the
store's clock (:mod:`pressroom.store.store_time`), never by the calling process's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.models import DigestStatus, JobOutcome, JobTrigger
from pressroom.store.schema import digests, job_runs, leases, workers
from pressroom.store.store_time import db_now, now_expr

__all__ = [
    "HEARTBEAT_EVERY",
    "SILENT_AFTER",
    "JobRunRow",
    "WorkerRow",
    "abandon_runs",
    "acquire_lease",
    "all_workers",
    "beat_runs",
    "db_now",
    "digest_done_since",
    "finish_run",
    "last_job_run",
    "last_run",
    "lease_holder",
    "live_workers",
    "newest_heartbeat",
    "newest_heartbeat_age",
    "newest_run",
    "prune_workers",
    "record_skipped",
    "release_lease",
    "remove_worker",
    "run_started_since",
    "start_run",
    "take_lease",
    "touch_worker",
]


HEARTBEAT_EVERY = timedelta(seconds=15)
"""How often a worker (and a command's run) writes its heartbeat."""

SILENT_AFTER = HEARTBEAT_EVERY * 2
"""A worker or running run whose heartbeat is older than this (store clock) is dead."""


@dataclass(frozen=True, slots=True)
class JobRunRow:
    """One row of ``job_runs``."""

    id: int
    job: str
    schedule: str
    started_at: datetime
    finished_at: datetime | None
    outcome: JobOutcome
    summary: str
    error: str | None
    worker: str
    trigger: JobTrigger = JobTrigger.SCHEDULE
    seen_at: datetime | None = None
    reason: str | None = None
    produced: int = 0

    @property
    def heartbeat(self) -> datetime:
        """The run's last sign of life (its heartbeat, else its start)."""
        return self.seen_at or self.started_at

    @classmethod
    def from_row(cls, mapping: Any) -> JobRunRow:
        """The row of a ``select(job_runs)`` result (its ``_mapping``)."""
        return cls(
            **{
                **mapping,
                "outcome": JobOutcome(mapping["outcome"]),
                "trigger": JobTrigger(mapping["trigger"]),
            }
        )


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One row of ``workers``: a worker process and its last heartbeat."""

    id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime


# ---------------------------------------------------------------- job runs


def start_run(
    conn: Connection,
    *,
    job: str,
    schedule: str,
    started_at: datetime,
    worker: str,
    trigger: JobTrigger = JobTrigger.SCHEDULE,
) -> int:
    """Record a run that has started (outcome ``running``); return its id."""
    if not worker:
        raise ValueError("a run needs its holder (a worker or process id)")
    values = {
        "job": job,
        "schedule": schedule,
        "started_at": started_at,
        "worker": worker,
        "trigger": JobTrigger(trigger).value,
        "seen_at": now_expr(conn),
    }
    result = conn.execute(
        insert(job_runs).values(**values, outcome=JobOutcome.RUNNING.value).returning(job_runs.c.id)
    )
    return int(result.scalar_one())


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    finished_at: datetime,
    outcome: JobOutcome,
    summary: str,
    error: str | None = None,
    reason: str | None = None,
    produced: int = 0,
    started_at: datetime | None = None,
) -> None:
    """Record how run ``run_id`` ended (``reason``: why it was skipped; ``started_at``:
    a later start than recorded, when the run's work began once it held a lease)."""
    started = {} if started_at is None else {"started_at": started_at}
    conn.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id)
        .values(
            **started,
            finished_at=finished_at,
            outcome=JobOutcome(outcome).value,
            summary=summary,
            error=error,
            reason=reason,
            produced=produced,
            seen_at=now_expr(conn),
        )
    )


def record_skipped(
    conn: Connection,
    *,
    job: str,
    schedule: str,
    at: datetime,
    worker: str,
    trigger: JobTrigger,
    reason: str,
    summary: str,
) -> int:
    """Record a run that did not happen (outcome ``skipped``, started and ended at ``at``)."""
    run_id = start_run(
        conn, job=job, schedule=schedule, started_at=at, worker=worker, trigger=trigger
    )
    finish_run(
        conn, run_id, finished_at=at, outcome=JobOutcome.SKIPPED, summary=summary, reason=reason
    )
    return run_id


def beat_runs(conn: Connection, worker: str, run_ids: Collection[int]) -> int:
    """Renew the heartbeat of runs ``run_ids`` of ``worker`` still running; how many.

    Only the runs the caller knows to be in progress: a row whose end could not be
    written is no longer in progress, and renewing it would keep it "running" forever.
    """
    if not run_ids:
        return 0
    result = conn.execute(
        update(job_runs)
        .where(
            job_runs.c.worker == worker,
            job_runs.c.outcome == JobOutcome.RUNNING.value,
            job_runs.c.id.in_(sorted(run_ids)),
        )
        .values(seen_at=now_expr(conn))
    )
    return int(result.rowcount or 0)


def last_run(conn: Connection, schedule: str, *, finished: bool = False) -> JobRunRow | None:
    """The newest run of ``schedule`` (only finished ones when ``finished``), or None."""
    query = select(job_runs).where(job_runs.c.schedule == schedule)
    if finished:
        query = query.where(job_runs.c.finished_at.is_not(None))
    row = conn.execute(query.order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc()).limit(1))
    found = row.first()
    return None if found is None else JobRunRow.from_row(found._mapping)


def last_job_run(
    conn: Connection, job: str, *, outcome: JobOutcome | None = None
) -> JobRunRow | None:
    """The newest run of any schedule of ``job`` (with ``outcome`` if given), or None."""
    query = select(job_runs).where(job_runs.c.job == job)
    if outcome is not None:
        query = query.where(job_runs.c.outcome == JobOutcome(outcome).value)
    order = (job_runs.c.started_at.desc(), job_runs.c.id.desc())
    found = conn.execute(query.order_by(*order).limit(1)).first()
    return None if found is None else JobRunRow.from_row(found._mapping)


def newest_run(
    conn: Connection,
    *,
    schedule: str | None = None,
    job: str | None = None,
    skips: bool = True,
) -> JobRunRow | None:
    """The newest run of ``schedule`` (or of any schedule of ``job``) that stands for it.

    A run skipped because another process held the feeds lease (``reason`` ``lease``)
    does not stand for anything: the other process's run at that fire does. Without
    ``skips``, no skipped run at all (the newest run that did something).
    """
    lease_skip = and_(job_runs.c.outcome == JobOutcome.SKIPPED.value, job_runs.c.reason == "lease")
    query = select(job_runs).where(~lease_skip)
    if not skips:
        query = query.where(job_runs.c.outcome != JobOutcome.SKIPPED.value)
    if schedule is not None:
        query = query.where(job_runs.c.schedule == schedule)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    order = (job_runs.c.started_at.desc(), job_runs.c.id.desc())
    found = conn.execute(query.order_by(*order).limit(1)).first()
    return None if found is None else JobRunRow.from_row(found._mapping)


def abandon_runs(conn: Connection, *, silent_for: timedelta) -> int:
    """Mark ``running`` runs with no heartbeat for ``silent_for`` as ``abandoned``.

    By the store's clock; their holder (a worker or a command) died without recording
    an end. Returns how many.
    """
    silent = func.coalesce(job_runs.c.seen_at, job_runs.c.started_at) < now_expr(conn, -silent_for)
    result = conn.execute(
        update(job_runs)
        .where(job_runs.c.outcome == JobOutcome.RUNNING.value, silent)
        .values(
            outcome=JobOutcome.ABANDONED.value,
            finished_at=now_expr(conn),
            error="its process stopped, or the store failed, before its end was recorded",
        )
    )
    return int(result.rowcount)


def run_started_since(conn: Connection, schedule: str, since: datetime) -> bool:
    """True if a run of ``schedule`` that did not fail or skip started at or after ``since``."""
    query = select(func.count()).where(
        job_runs.c.schedule == schedule,
        job_runs.c.started_at >= since,
        job_runs.c.outcome.in_((JobOutcome.OK.value, JobOutcome.RUNNING.value)),
    )
    return bool(conn.execute(query).scalar_one())


# ---------------------------------------------------------------- leases


def _insert_ignore(conn: Connection, values: dict[str, Any]) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(leases).values(**values).on_conflict_do_nothing()


def acquire_lease(conn: Connection, name: str, holder: str, *, ttl: timedelta) -> bool:
    """Take (or renew) lease ``name`` for ``holder`` until the store's now + ``ttl``.

    Succeeds when nobody holds it, when its holder's lease expired, or when ``holder``
    already holds it. Returns whether ``holder`` holds it now.
    """
    now, expires = now_expr(conn), now_expr(conn, ttl)
    conn.execute(_insert_ignore(conn, {"name": name, "holder": holder, "expires_at": expires}))
    result = conn.execute(
        update(leases)
        .where(
            leases.c.name == name,
            or_(leases.c.holder == holder, leases.c.expires_at <= now),
        )
        .values(holder=holder, expires_at=expires)
        .returning(leases.c.holder)
    )
    return result.first() is not None


def take_lease(conn: Connection, name: str, holder: str, *, dead: str, ttl: timedelta) -> bool:
    """Take lease ``name`` from ``dead`` (a holder known to be gone) for ``holder``, until
    the store's now + ``ttl``; whether it was taken (not if ``dead`` no longer holds it)."""
    result = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == dead)
        .values(holder=holder, expires_at=now_expr(conn, ttl))
        .returning(leases.c.holder)
    )
    return result.first() is not None


def release_lease(conn: Connection, name: str, holder: str) -> None:
    """Give lease ``name`` back, if ``holder`` still holds it."""
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def lease_holder(conn: Connection, name: str) -> str | None:
    """Who holds lease ``name`` now, by the store's clock (None when free or expired)."""
    query = select(leases.c.holder).where(
        leases.c.name == name, leases.c.expires_at > now_expr(conn)
    )
    return conn.execute(query).scalar()


# ---------------------------------------------------------------- workers


def touch_worker(
    conn: Connection, worker_id: str, *, host: str, pid: int, started_at: datetime
) -> None:
    """Write the heartbeat of worker ``worker_id`` (insert on first call), store clock."""
    now = now_expr(conn)
    changed = conn.execute(
        update(workers).where(workers.c.id == worker_id).values(seen_at=now)
    ).rowcount
    if not changed:
        conn.execute(
            insert(workers).values(
                id=worker_id, host=host, pid=pid, started_at=started_at, seen_at=now
            )
        )


def remove_worker(conn: Connection, worker_id: str) -> None:
    """Forget worker ``worker_id`` (it stopped cleanly)."""
    conn.execute(delete(workers).where(workers.c.id == worker_id))


def prune_workers(conn: Connection, *, silent_for: timedelta) -> int:
    """Forget workers not seen for ``silent_for`` (store clock); returns how many."""
    old = workers.c.seen_at < now_expr(conn, -silent_for)
    return int(conn.execute(delete(workers).where(old)).rowcount)


def live_workers(conn: Connection, *, max_age: timedelta) -> list[WorkerRow]:
    """Workers whose heartbeat is at most ``max_age`` old (store clock), newest first."""
    query = (
        select(workers)
        .where(workers.c.seen_at >= now_expr(conn, -max_age))
        .order_by(workers.c.seen_at.desc())
    )
    return [WorkerRow(**row._mapping) for row in conn.execute(query)]


def all_workers(conn: Connection) -> list[WorkerRow]:
    """Every worker row, alive or not, newest heartbeat first."""
    query = select(workers).order_by(workers.c.seen_at.desc(), workers.c.id)
    return [WorkerRow(**row._mapping) for row in conn.execute(query)]


def newest_heartbeat_age(conn: Connection) -> tuple[datetime | None, float | None]:
    """The newest heartbeat of any worker and its age in seconds by the store's clock."""
    seen = newest_heartbeat(conn)
    if seen is None:
        return None, None
    return seen, (db_now(conn) - seen).total_seconds()


def newest_heartbeat(conn: Connection) -> datetime | None:
    """The most recent heartbeat of any worker (``workers.seen_at``), or None."""
    # max() keeps the column's type, so the value comes back as an aware UTC datetime.
    value: datetime | None = conn.execute(select(func.max(workers.c.seen_at))).scalar()
    return value


# ---------------------------------------------------------------- digests (read-only)


def digest_done_since(conn: Connection, schedule: str, since: datetime) -> bool:
    """True if a digest run of ``schedule`` created at or after ``since`` is completed."""
    query = select(func.count()).where(
        digests.c.schedule == schedule,
        digests.c.created_at >= since,
        digests.c.status == DigestStatus.COMPLETED.value,
    )
    return bool(conn.execute(query).scalar_one())
