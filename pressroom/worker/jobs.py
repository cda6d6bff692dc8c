"""The jobs (feeds, digest, bounces): each run recorded in ``job_runs`` and logged in one line.

The job functions are injected (:class:`Jobs`), so tests can run the worker on fakes; the
defaults are :func:`pressroom.feeds.build_feeds`,
:func:`pressroom.digest.service.send_digest` and
:func:`pressroom.worker.bounces_job.run_bounces`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pressroom.clock import Clock
from pressroom.config import ScheduleSettings, Settings
from pressroom.models import JobKind, JobOutcome, JobTrigger
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.wiring import digest_config
from pressroom.worker.bounces_job import ProcessBounces, process_bounces_leased, run_bounces
from pressroom.worker.lease import Lease, feeds_lease_name

if TYPE_CHECKING:
    from pressroom.digest.config import DigestConfig
    from pressroom.feeds import FeedConfig

__all__ = [
    "BuildFeeds",
    "JobResult",
    "JobRunner",
    "Jobs",
    "SendDigest",
    "build_feeds_leased",
    "default_jobs",
    "note",
]

log = logging.getLogger("pressroom.worker")
T = TypeVar("T")
Ended = tuple[JobOutcome, str, str | None]
"""How a job ended: its outcome, its summary, the error (if any)."""

_FINE = (JobOutcome.OK, JobOutcome.SKIPPED, JobOutcome.INCOMPLETE)

_NOTES: ContextVar[dict[str, Any]] = ContextVar("pressroom_job_notes")
"""Per run (each run is its own task): ``reason`` of a skip, ``produced`` count."""


def note(**values: Any) -> None:
    """Add ``reason=`` (why a run skipped), ``produced=`` (files, messages) or
    ``held_from=``/``held_until=`` (the span a leased job held its lease, which becomes the
    row's start and end) to the current run's ``job_runs`` row; a no-op outside
    :meth:`JobRunner.run`."""
    notes = _NOTES.get(None)
    if notes is not None:
        notes.update(values)


class Report(Protocol):
    """What a job function returns: something that sums itself up in one line."""

    def summary(self) -> str:
        """One line: what was done, with counts."""
        ...


class FeedsResult(Report, Protocol):
    """A feeds build report also names the feeds it could not write."""

    @property
    def ok(self) -> bool:
        """False when some feed could not be written (the others were)."""
        ...

    @property
    def failed(self) -> list[str]:
        """The feeds that could not be written, with the reason."""
        ...


FeedsReportT = TypeVar("FeedsReportT", bound=FeedsResult)


class DigestResult(Report, Protocol):
    """A digest report also says whether every delivery ended well."""

    @property
    def ok(self) -> bool:
        """False when a delivery failed or the run could not finish."""
        ...


class BuildFeeds(Protocol):
    """The signature of :func:`pressroom.feeds.build_feeds`."""

    def __call__(
        self, config: FeedConfig, store: Store, *, now: datetime, force: bool = False
    ) -> FeedsResult: ...


class SendDigest(Protocol):
    """The signature of :func:`pressroom.digest.service.send_digest` as the worker calls it."""

    async def __call__(
        self,
        config: DigestConfig,
        store: Store,
        clock: Clock,
        *,
        schedule: str,
        at: datetime,
        show_progress: bool = ...,
        stop: asyncio.Event | None = ...,
    ) -> DigestResult: ...


@dataclass(frozen=True)
class Jobs:
    """The functions the worker runs."""

    build_feeds: BuildFeeds
    send_digest: SendDigest
    process_bounces: ProcessBounces = run_bounces


def default_jobs() -> Jobs:
    """The real feeds build (telling the WebSub hubs) and digest service."""
    from pressroom.digest.service import send_digest
    from pressroom.feeds.websub import build_and_announce

    return Jobs(build_feeds=build_and_announce, send_digest=send_digest)


async def build_feeds_leased(
    build: Callable[..., FeedsReportT],
    config: FeedConfig,
    store: Store,
    clock: Clock,
    holder: str,
    *,
    force: bool = False,
) -> tuple[FeedsReportT | None, str | None]:
    """Build the feeds (in a thread) while holding the feeds lease.

    Returns ``(report, None)``, or ``(None, other_holder)`` when another process holds
    the lease: the worker's job and ``pressroom feeds build`` never build at once.
    """
    name = feeds_lease_name(config.feeds.lease, config.output_dir)
    async with Lease(store, name, holder, clock) as lease:
        if not lease.held:
            return None, lease.other
        now = clock()
        report = await _in_thread(lambda: build(config, store, now=now, force=force))
        # The run's row spans the build itself, not the lease bookkeeping around it, so
        # two workers' rows show what the lease guarantees: builds one after the other.
        note(held_from=now, held_until=clock())
        return report, None


@dataclass(frozen=True)
class JobResult:
    """How one run of a scheduled job ended."""

    job: str
    schedule: str
    at: datetime
    started_at: datetime
    finished_at: datetime
    outcome: JobOutcome
    summary: str
    error: str | None = None
    trigger: JobTrigger = JobTrigger.SCHEDULE
    reason: str | None = None
    produced: int = 0

    @property
    def seconds(self) -> float:
        """How long the run took."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def failed(self) -> bool:
        """True when the job ran and failed."""
        return self.outcome is JobOutcome.FAILED

    @property
    def ok(self) -> bool:
        """True unless the job failed or was stopped before it finished."""
        return self.outcome in _FINE

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (times in ISO 8601 UTC)."""
        return {
            "job": self.job,
            "schedule": self.schedule,
            "at": self.at.isoformat(),
            "started": self.started_at.isoformat(),
            "finished": self.finished_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "outcome": self.outcome.value,
            "summary": self.summary,
            "error": self.error,
            "trigger": self.trigger.value,
            "reason": self.reason,
        }


@dataclass
class JobRunner:
    """Runs one job of a schedule: records it, keeps feeds single, logs one line."""

    settings: Settings
    store: Store
    clock: Clock
    worker_id: str
    jobs: Jobs
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    show_progress: bool = False

    @cached_property
    def feed_config(self) -> FeedConfig:
        """The feeds' part of :attr:`settings`, made once for every feeds job."""
        from pressroom.feeds import FeedConfig

        return FeedConfig.from_settings(self.settings)

    async def run(
        self, schedule: ScheduleSettings, at: datetime, trigger: JobTrigger = JobTrigger.SCHEDULE
    ) -> JobResult:
        """Run ``schedule``'s job for the fire time ``at``; never raises for a job failure."""
        started = self.clock()
        run_id = await _in_thread(_start, self.store, schedule, started, self.worker_id, trigger)
        notes: dict[str, Any] = {}
        _NOTES.set(notes)
        outcome, summary, error = await self._outcome(schedule, at)
        finished = notes.get("held_until") or self.clock()
        started = notes.get("held_from") or started
        result = JobResult(
            schedule.job, schedule.name, at, started, finished, outcome, summary, error,
            trigger, notes.get("reason"), int(notes.get("produced", 0)),
        )  # fmt: skip
        await _in_thread(_finish, self.store, run_id, result)
        log_result(result, self.worker_id)
        return result

    async def _outcome(self, schedule: ScheduleSettings, at: datetime) -> Ended:
        try:
            if schedule.job is JobKind.FEEDS:
                return await self._feeds()
            if schedule.job is JobKind.BOUNCES:
                return await self._bounces()
            return await self._digest(schedule, at)
        except Exception as exc:  # the job boundary: record, log, keep the worker alive
            log.debug("job %s failed", schedule.name, exc_info=True)
            return JobOutcome.FAILED, "", _one_line(exc)

    async def _feeds(self) -> Ended:
        report, other = await build_feeds_leased(
            self.jobs.build_feeds, self.feed_config, self.store, self.clock, self.worker_id
        )
        if report is None:
            note(reason="lease")
            return JobOutcome.SKIPPED, f"another worker is building the feeds ({other})", None
        note(produced=len(getattr(report, "written", ())))
        if not report.ok:  # some feed could not be written; the rest were
            return JobOutcome.FAILED, report.summary(), "; ".join(report.failed)
        return JobOutcome.OK, report.summary(), None

    async def _bounces(self) -> Ended:
        report, other = await process_bounces_leased(
            self.jobs.process_bounces, self.settings, self.store, self.clock, self.worker_id
        )
        if report is None:
            note(reason="lease")
            return JobOutcome.SKIPPED, f"another worker is processing bounces ({other})", None
        return JobOutcome.OK, report.summary(), None

    async def _digest(self, schedule: ScheduleSettings, at: datetime) -> Ended:
        report = await self.jobs.send_digest(
            digest_config(self.settings),
            self.store,
            self.clock,
            schedule=schedule.name,
            at=at,
            show_progress=self.show_progress,
            stop=self.stop,
        )
        note(produced=int(getattr(report, "sent", 0)))
        # ok with deliveries remaining: they are with another live sender, not done here.
        left = int(getattr(report, "remaining", 0))
        if report.ok and not left:
            return JobOutcome.OK, report.summary(), None
        if self.stop.is_set():
            return JobOutcome.STOPPED, report.summary(), "stopped by a signal; the next run resumes"
        # Deliveries left queued or claimed by another worker sending the same run: not a
        # failure of this run; that worker (or the next run, resuming) finishes them.
        return (
            JobOutcome.INCOMPLETE,
            report.summary(),
            "deliveries left to another worker or a resume",
        )


def _start(
    store: Store, schedule: ScheduleSettings, started: datetime, worker: str, trigger: JobTrigger
) -> int:
    with store.write() as conn:
        return runs.start_run(
            conn,
            job=schedule.job,
            schedule=schedule.name,
            started_at=started,
            worker=worker,
            trigger=trigger,
        )


def _finish(store: Store, run_id: int, result: JobResult) -> None:
    with store.write() as conn:
        runs.finish_run(
            conn,
            run_id,
            started_at=result.started_at,
            finished_at=result.finished_at,
            outcome=result.outcome,
            summary=result.summary,
            error=result.error,
            reason=result.reason,
            produced=result.produced,
        )


def log_result(result: JobResult, worker_id: str) -> None:
    """The one log line of a run: start, outcome, counts (the summary), duration."""
    level = logging.ERROR if result.failed else logging.INFO
    extra = {"job_run": {**result.as_dict(), "worker": worker_id}}
    error = f" ({result.error})" if result.error else ""
    log.log(
        level,
        "%s job %s %s in %.2fs, started %s: %s%s",
        result.job,
        result.schedule,
        result.outcome,
        result.seconds,
        result.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        result.summary or "-",
        error,
        extra=extra,
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """Run ``func`` in a daemon thread, so a hard exit never waits for it.

    A daemon thread (unlike :func:`asyncio.to_thread`'s pool) does not hold the process
    at exit; feed files are written by rename, so stopping one mid-way leaves no half file.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        try:
            value = func(*args)
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            loop.call_soon_threadsafe(_set_exception, future, exc)
        else:
            loop.call_soon_threadsafe(_set_result, future, value)

    threading.Thread(target=target, name="pressroom-job", daemon=True).start()
    return await future


def _set_result(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
