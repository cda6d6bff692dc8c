"""``pressroom status``: what ran, what runs next, the current digest, whether a worker lives.

Runs are read from ``job_runs`` alone, whatever started them (a schedule, the start-up
catch-up, a command, the feeds watch). A ``running`` row whose heartbeat is older than
:data:`~pressroom.worker.lease.WORKER_ALIVE_FOR` by the store's clock is shown
``abandoned`` (its process died), and so is a worker with such a heartbeat: dead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pressroom.config import ScheduleSettings
from pressroom.incoming import printable
from pressroom.models import DeliveryStatus, JobKind, JobOutcome
from pressroom.store import runs
from pressroom.store.bounces import count_by_kind
from pressroom.store.deliveries import counts
from pressroom.store.digests import Digest, latest_digest
from pressroom.store.engine import Store
from pressroom.worker.lease import WORKER_ALIVE_FOR
from pressroom.worker.registry import WorkerConfig, scheduled_jobs
from pressroom.worker.triggers import make_trigger, next_fire_time

__all__ = ["DigestRunStatus", "JobStatus", "ScheduleStatus", "StatusReport", "collect_status"]

_FAILED = (JobOutcome.FAILED, JobOutcome.ABANDONED)
BOUNCES_WINDOW = timedelta(days=30)
"""``status`` counts the bounce mailbox's messages of this long."""


@dataclass(frozen=True)
class ScheduleStatus:
    """One schedule: when it runs next and how its last run went."""

    schedule: ScheduleSettings
    zone: tzinfo
    next_fire: datetime | None
    last_run: runs.JobRunRow | None
    """The newest run that stands for the schedule (a feeds schedule: any feeds build)."""
    last_real_run: runs.JobRunRow | None = None
    """The newest run that did something (not skipped): a later skip does not hide it."""

    @property
    def failed(self) -> bool:
        """True when the schedule's newest run (skips aside) failed or was abandoned."""
        last = self.last_real_run
        return last is not None and last.outcome in _FAILED


@dataclass(frozen=True)
class JobStatus:
    """A job (feeds, digest, ...): its newest run, whatever started it."""

    job: str
    last_run: runs.JobRunRow | None
    last_real_run: runs.JobRunRow | None = None

    @property
    def failed(self) -> bool:
        """True when the job's newest run (skips aside) failed or was abandoned."""
        last = self.last_real_run
        return last is not None and last.outcome in _FAILED


@dataclass(frozen=True)
class DigestRunStatus:
    """A digest schedule's newest run and its deliveries by status."""

    digest: Digest
    deliveries: dict[DeliveryStatus, int]
    """Only the statuses that occur, by name."""


@dataclass(frozen=True)
class StatusReport:
    """Everything ``pressroom status`` shows."""

    now: datetime
    site_zone: tzinfo
    schedules: list[ScheduleStatus]
    digests: list[DigestRunStatus]
    last_feed_build: runs.JobRunRow | None
    feeds_lease: str | None
    workers: list[runs.WorkerRow]
    """Every known worker, alive or dead (dead ones are forgotten after a day)."""
    jobs: tuple[JobStatus, ...] = ()
    store_now: datetime | None = None
    """The store's time when the report was read: heartbeat ages are measured from it."""
    bounces: dict[str, int] = field(default_factory=dict)
    """Bounce mailbox messages per kind over :data:`BOUNCES_WINDOW` (only kinds that occur)."""
    sources: tuple[JobStatus, ...] = ()
    """Each ``[sources.<name>]``'s newest sync that changed something or failed (``job`` is
    the source's name)."""

    @property
    def failed(self) -> bool:
        """True when the newest run of some schedule, job or source failed or was abandoned.

        ``status`` exits 1 exactly then.
        """
        jobs = (*self.jobs, *self.sources)
        return any(s.failed for s in self.schedules) or any(j.failed for j in jobs)

    @property
    def live_workers(self) -> list[runs.WorkerRow]:
        """The workers whose heartbeat is recent enough."""
        return [w for w in self.workers if self.alive(w)]

    def alive(self, worker: runs.WorkerRow) -> bool:
        """True when ``worker``'s heartbeat is at most two beats old (store clock)."""
        return self.heartbeat_age(worker) <= WORKER_ALIVE_FOR.total_seconds()

    def heartbeat_age(self, worker: runs.WorkerRow) -> float:
        """Seconds since ``worker``'s heartbeat, by the store's clock."""
        return ((self.store_now or self.now) - worker.seen_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready values (times ISO 8601 in UTC)."""
        return {
            "now": _iso(self.now),
            "store_now": _iso(self.store_now),
            "failed": self.failed,
            "schedules": [_schedule_json(s) for s in self.schedules],
            "jobs": [
                {
                    "job": j.job,
                    "last_run": _run_json(j.last_run),
                    "last_real_run": _run_json(j.last_real_run),
                    "failed": j.failed,
                }
                for j in self.jobs
            ],
            "digests": [_digest_json(d) for d in self.digests],
            "last_feed_build": _run_json(self.last_feed_build),
            "feeds_lease": self.feeds_lease,
            "workers": [_worker_json(w, self) for w in self.workers],
            "worker_alive": bool(self.live_workers),
            "bounces_30d": self.bounces,
            "sources": [
                {"source": j.job, "last_run": _run_json(j.last_run), "failed": j.failed}
                for j in self.sources
            ],
        }

    def lines(self) -> list[str]:
        """The report as text for a terminal, times in local time.

        Control characters are escaped (``\\x1b``): a run's summary, error or reason can
        quote text from outside (a hub's answer, a source's error, an inbound message).
        """
        out = ["Schedules:"]
        for item in self.schedules:
            out += _schedule_lines(item)
        out += _unscheduled_failures(self)
        out += [_digest_line(digest, self.site_zone) for digest in self.digests]
        out.append(_feeds_line(self.last_feed_build, self.feeds_lease, self.site_zone))
        out.append(_workers_line(self))
        out.append(_bounces_line(self.bounces))
        for source in self.sources:
            if source.last_run is None:
                out.append(f"Source {source.job}: no sync has changed anything yet")
            else:
                out.append(_run_line(f"Source {source.job}", source.last_run, self.site_zone))
        return [printable(line) for line in out]


def collect_status(config: WorkerConfig, store: Store, now: datetime) -> StatusReport:
    """Read the store and the config into a :class:`StatusReport` (one read transaction)."""
    schedules, digests = [], []
    with store.read() as conn:
        store_now = runs.db_now(conn)

        def shown(run: runs.JobRunRow | None) -> runs.JobRunRow | None:
            return _as_seen(run, store_now)

        for scheduled in scheduled_jobs(config):
            schedule = scheduled.schedule
            assert schedule is not None  # a scheduled job has its trigger
            zone = schedule.zone(config.site_timezone)
            upcoming = next_fire_time(make_trigger(schedule, config.site_timezone), now)
            # a digest run belongs to its schedule; a feeds build (or bounce pass) does the
            # same work whatever started it
            own = scheduled.rules.sends_digest
            kind, name = (None, schedule.name) if own else (str(scheduled.kind), None)
            last = shown(runs.newest_run(conn, schedule=name, job=kind))
            real = shown(runs.newest_run(conn, schedule=name, job=kind, skips=False))
            schedules.append(ScheduleStatus(schedule, zone, upcoming, last, real))
            digest = latest_digest(conn, schedule.name) if own else None
            if digest is not None:
                digests.append(DigestRunStatus(digest, _occurring(conn, digest.id)))
        jobs = tuple(
            JobStatus(
                job,
                shown(runs.newest_run(conn, job=job)),
                shown(runs.newest_run(conn, job=job, skips=False)),
            )
            for job in JobKind
        )
        return StatusReport(
            now=now,
            site_zone=ZoneInfo(config.site_timezone),
            schedules=schedules,
            digests=digests,
            last_feed_build=runs.last_job_run(conn, JobKind.FEEDS, outcome=JobOutcome.OK),
            feeds_lease=runs.lease_holder(conn, config.feeds_lease),
            workers=runs.all_workers(conn),
            jobs=jobs,
            store_now=store_now,
            bounces={
                k.value: n for k, n in sorted(count_by_kind(conn, now - BOUNCES_WINDOW).items())
            },
            sources=tuple(
                JobStatus(
                    source.name,
                    run := shown(
                        runs.newest_run(conn, schedule=source.name, job=str(JobKind.SOURCES))
                    ),
                    run,
                )
                for source in config.sources
            ),
        )


def _as_seen(run: runs.JobRunRow | None, store_now: datetime) -> runs.JobRunRow | None:
    """``run``, shown ``abandoned`` when it is running with a stale heartbeat."""
    if run is None or run.outcome is not JobOutcome.RUNNING:
        return run
    if (store_now - run.heartbeat) <= WORKER_ALIVE_FOR:
        return run
    return replace(
        run,
        outcome=JobOutcome.ABANDONED,
        error=(
            f"no heartbeat from {run.worker} since {_iso(run.heartbeat)}: its process died,"
            " or the store failed before its end was recorded"
        ),
    )


def _occurring(conn: Connection, digest_id: int) -> dict[DeliveryStatus, int]:
    return {status: n for status, n in sorted(counts(conn, digest_id).items()) if n}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _local(moment: datetime | None, zone: tzinfo) -> str:
    return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _run_json(run: runs.JobRunRow | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "job": run.job,
        "schedule": run.schedule,
        "started": _iso(run.started_at),
        "finished": _iso(run.finished_at),
        "outcome": run.outcome,
        "summary": run.summary,
        "error": run.error,
        "worker": run.worker,
        "trigger": run.trigger.value,
        "reason": run.reason,
    }


def _schedule_json(item: ScheduleStatus) -> dict[str, Any]:
    schedule = item.schedule
    return {
        "name": schedule.name,
        "job": schedule.job,
        "cron": schedule.cron,
        "timezone": str(item.zone),
        "next_fire": _iso(item.next_fire),
        "next_fire_local": _local(item.next_fire, item.zone),
        "last_run": _run_json(item.last_run),
        "last_real_run": _run_json(item.last_real_run),
        "failed": item.failed,
    }


def _digest_json(item: DigestRunStatus) -> dict[str, Any]:
    digest = item.digest
    return {
        "schedule": digest.schedule,
        "period": digest.period,
        "status": digest.status,
        "created": _iso(digest.created_at),
        "completed": _iso(digest.completed_at),
        "summary": digest.summary,
        "deliveries": item.deliveries,
    }


def _worker_json(worker: runs.WorkerRow, report: StatusReport) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "started": _iso(worker.started_at),
        "heartbeat_age_s": round(report.heartbeat_age(worker), 1),
        "alive": report.alive(worker),
    }


def _schedule_lines(item: ScheduleStatus) -> list[str]:
    schedule = item.schedule
    head = (
        f"  {schedule.name} ({schedule.job}, {schedule.cron!r} {item.zone}): "
        f"next {_local(item.next_fire, item.zone)}"
    )
    run = item.last_run
    if run is None:
        return [head, "    last run: never"]
    lines = [head, _run_line("last run", run, item.zone)]
    real = item.last_real_run
    if real is not None and real.id != run.id:
        lines.append(_run_line("last real run", real, item.zone))
    return lines


def _unscheduled_failures(report: StatusReport) -> list[str]:
    """The failed jobs no schedule line shows (a command's run of a job without a
    schedule, e.g. ``bounces process``): ``status`` exits 1 on them too, so name them."""
    shown = {str(item.schedule.job) for item in report.schedules if item.failed}
    out: list[str] = []
    for job in report.jobs:
        if job.failed and job.job not in shown and job.last_real_run is not None:
            out.append(f"  job {job.job} (outside the schedules above):")
            out.append(_run_line("last real run", job.last_real_run, report.site_zone))
    return out


def _run_line(label: str, run: runs.JobRunRow, zone: tzinfo) -> str:
    took = ""
    if run.finished_at is not None:
        took = f" in {(run.finished_at - run.started_at).total_seconds():.1f}s"
    detail = run.summary or "-"
    if run.error:
        detail += f" (error: {run.error})"
    by = f" ({run.trigger}, by {run.worker})"
    return f"    {label}: {run.outcome}{took} at {_local(run.started_at, zone)}{by}: {detail}"


def _digest_line(item: DigestRunStatus, zone: tzinfo) -> str:
    digest = item.digest
    counts = ", ".join(f"{status} {n}" for status, n in item.deliveries.items()) or "none"
    return (
        f"Digest {digest.schedule} {digest.period} ({digest.status}, "
        f"started {_local(digest.created_at, zone)}): deliveries {counts}"
    )


def _feeds_line(run: runs.JobRunRow | None, holder: str | None, zone: tzinfo) -> str:
    building = f"; being built now by {holder}" if holder else ""
    if run is None:
        return f"Last feed build: never{building}"
    return f"Last feed build: {_local(run.started_at, zone)}: {run.summary or '-'}{building}"


def _workers_line(report: StatusReport) -> str:
    silent = int(WORKER_ALIVE_FOR.total_seconds())
    dead = [w for w in report.workers if not report.alive(w)]
    gone = "; dead: " + ", ".join(
        f"{w.id} (last heartbeat {report.heartbeat_age(w):.0f}s ago)" for w in dead
    )
    if not report.live_workers:
        return (
            f"Worker: none alive (no heartbeat in the last {silent}s; is `pressroom run` "
            f"running?){gone if dead else ''}"
        )
    beats = ", ".join(
        f"{w.id} (heartbeat {report.heartbeat_age(w):.0f}s ago)" for w in report.live_workers
    )
    return f"Worker: alive: {beats}{gone if dead else ''}"


def _bounces_line(kinds: dict[str, int]) -> str:
    found = ", ".join(f"{kind} {n}" for kind, n in kinds.items()) or "none"
    return f"Bounce mailbox (last 30 days): {found}"
