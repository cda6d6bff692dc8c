"""``pressroom status``: what ran, what runs next, the current digest, whether a worker lives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection

from pressroom.config import ScheduleSettings, Settings
from pressroom.models import DeliveryStatus, JobKind, JobOutcome
from pressroom.store import runs
from pressroom.store.bounces import count_by_kind
from pressroom.store.deliveries import counts
from pressroom.store.digests import Digest, latest_digest
from pressroom.store.engine import Store
from pressroom.worker.lease import FEEDS_LEASE, WORKER_ALIVE_FOR
from pressroom.worker.scheduler import effective_schedules
from pressroom.worker.triggers import make_trigger, next_fire_time

__all__ = ["DigestRunStatus", "ScheduleStatus", "StatusReport", "collect_status"]

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
    last_finished: runs.JobRunRow | None

    @property
    def failed(self) -> bool:
        """True when the schedule's last finished run failed (or its worker died in it)."""
        last = self.last_finished
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
    bounces: dict[str, int] = field(default_factory=dict)
    """Bounce mailbox messages per kind over :data:`BOUNCES_WINDOW` (only kinds that occur)."""

    @property
    def failed(self) -> bool:
        """True when the last run of any schedule failed (``status`` exits 1)."""
        return any(s.failed for s in self.schedules)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready values (times ISO 8601 in UTC)."""
        return {
            "now": _iso(self.now),
            "failed": self.failed,
            "schedules": [_schedule_json(s) for s in self.schedules],
            "digests": [_digest_json(d) for d in self.digests],
            "last_feed_build": _run_json(self.last_feed_build),
            "feeds_lease": self.feeds_lease,
            "workers": [_worker_json(w, self.now) for w in self.workers],
            "worker_alive": bool(self.workers),
            "bounces_30d": self.bounces,
        }

    def lines(self) -> list[str]:
        """The report as text for a terminal, times in local time."""
        out = ["Schedules:"]
        for item in self.schedules:
            out += _schedule_lines(item)
        out += [_digest_line(digest, self.site_zone) for digest in self.digests]
        out.append(_feeds_line(self.last_feed_build, self.feeds_lease, self.site_zone))
        out.append(_workers_line(self.workers, self.now))
        out.append(_bounces_line(self.bounces))
        return out


def collect_status(settings: Settings, store: Store, now: datetime) -> StatusReport:
    """Read the store and the config into a :class:`StatusReport`."""
    schedules, digests = [], []
    with store.read() as conn:
        for schedule in effective_schedules(settings):
            zone = schedule.zone(settings.site.timezone)
            upcoming = next_fire_time(make_trigger(settings, schedule), now)
            last = runs.last_run(conn, schedule.name)
            finished = runs.last_run(conn, schedule.name, finished=True)
            schedules.append(ScheduleStatus(schedule, zone, upcoming, last, finished))
            digest = latest_digest(conn, schedule.name) if schedule.job is JobKind.DIGEST else None
            if digest is not None:
                digests.append(DigestRunStatus(digest, _occurring(conn, digest.id)))
        return StatusReport(
            now=now,
            site_zone=settings.site.tz,
            schedules=schedules,
            digests=digests,
            last_feed_build=runs.last_job_run(conn, JobKind.FEEDS, outcome=JobOutcome.OK),
            feeds_lease=runs.lease_holder(conn, FEEDS_LEASE, now=now),
            workers=runs.live_workers(conn, now=now, max_age=WORKER_ALIVE_FOR),
            bounces={
                k.value: n for k, n in sorted(count_by_kind(conn, now - BOUNCES_WINDOW).items())
            },
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


def _worker_json(worker: runs.WorkerRow, now: datetime) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "started": _iso(worker.started_at),
        "heartbeat_age_s": round((now - worker.seen_at).total_seconds(), 1),
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
    took = ""
    if run.finished_at is not None:
        took = f" in {(run.finished_at - run.started_at).total_seconds():.1f}s"
    detail = run.summary or "-"
    if run.error:
        detail += f" (error: {run.error})"
    return [
        head,
        f"    last run: {run.outcome}{took} at {_local(run.started_at, item.zone)}: {detail}",
    ]


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


def _workers_line(workers: list[runs.WorkerRow], now: datetime) -> str:
    if not workers:
        return "Worker: none alive (no heartbeat in the last minute; is `pressroom run` running?)"
    beats = ", ".join(
        f"{w.id} (heartbeat {(now - w.seen_at).total_seconds():.0f}s ago)" for w in workers
    )
    return f"Worker: alive: {beats}"


def _bounces_line(kinds: dict[str, int]) -> str:
    found = ", ".join(f"{kind} {n}" for kind, n in kinds.items()) or "none"
    return f"Bounce mailbox (last 30 days): {found}"
