"""``pressroom run``: APScheduler jobs from config, start-up catch-up, graceful stop.

Jobs come from ``[[schedules]]`` on every start (an in-memory job store: nothing pickled
survives a restart, so a changed config is always the truth). Missed runs after downtime
are not APScheduler's business (it cannot know about them): :func:`plan_startup` decides,
per schedule, whether the most recent missed period runs once now or is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from pressroom.clock import Clock, system_clock
from pressroom.config import ScheduleSettings, Settings
from pressroom.models import JobTrigger
from pressroom.process_id import process_id
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.worker.jobs import JobResult, JobRunner
from pressroom.worker.lease import Heartbeat
from pressroom.worker.recording import record_skip
from pressroom.worker.registry import (
    Job,
    Jobs,
    SourceEvery,
    WorkerConfig,
    effective_schedules,
    scheduled_jobs,
    source_jobs,
)
from pressroom.worker.sources_loop import SourcesLoop

if TYPE_CHECKING:
    from pressroom.sources.sync import SyncReport
    from pressroom.worker.registry import SyncSource
from pressroom.worker.triggers import latest_fire_time, make_trigger, next_fire_time
from pressroom.worker.watch import FeedsWatch

__all__ = [
    "STOP_TIMEOUT",
    "StartupAction",
    "StartupDecision",
    "Worker",
    "default_jobs",
    "fire_time_for",
    "install_stop_signals",
    "job_runner",
    "plan_startup",
    "run_once",
    "run_worker",
    "worker_config",
]

log = logging.getLogger("pressroom.worker")

STOP_TIMEOUT = 60.0
"""Seconds a stopping worker waits for running jobs (a digest's in-flight messages)."""

RESUME_EVERY = 20.0
"""Seconds between two tries of a digest whose send failed on the store (a digest is
resumed within this, plus the store's busy timeout, once the store answers again)."""

TriggerFactory = Callable[[ScheduleSettings, str], Any]
"""Makes a schedule's trigger from it and the site's time zone (tests pass short ones)."""


def worker_config(settings: Settings) -> WorkerConfig:
    """The part of ``settings`` the worker's jobs, the watch and ``status`` read."""
    from pressroom.wiring import feed_config

    return WorkerConfig(
        schedules=tuple(effective_schedules(settings.schedules)),
        site_timezone=settings.site.timezone,
        feeds=feed_config(settings),
        watch_every=settings.feeds.watch,
        sources=tuple(
            SourceEvery(name, source.interval) for name, source in sorted(settings.sources.items())
        ),
    )


def default_jobs(settings: Settings) -> Jobs:
    """The real work, its configuration bound: the feeds build (telling the WebSub hubs),
    the digest service and the bounce mailbox pass."""
    from pressroom.bounces.process import process_bounces
    from pressroom.bounces.report import BounceReport
    from pressroom.digest.report import DigestReport
    from pressroom.digest.service import send_digest
    from pressroom.feeds import build_feeds
    from pressroom.wiring import bounce_config, digest_config

    async def digest(
        store: Store, clock: Clock, *, schedule: str, at: datetime,
        show_progress: bool = False, stop: asyncio.Event | None = None,
    ) -> DigestReport:  # fmt: skip
        # built per run: a config problem (no [web] secret) is this run's failure
        return await send_digest(
            digest_config(settings), store, clock, schedule=schedule, at=at,
            show_progress=show_progress, stop=stop,
        )  # fmt: skip

    def bounces(store: Store, clock: Clock) -> BounceReport:
        # the config is read per pass: a worker without [bounces] runs no bounces job
        return process_bounces(bounce_config(settings), store, clock)

    sync, close = _source_syncs(settings)
    return Jobs(
        build_feeds=build_feeds,
        send_digest=digest,
        process_bounces=bounces,
        sync_source=sync,
        close=close,
    )


def _source_syncs(settings: Settings) -> tuple[SyncSource | None, Callable[[], None]]:
    """The sources' syncs (each source's connection kept between syncs; a bad row logged
    once while it stays bad), or None without ``[sources]``; and what closes their
    connections."""
    from pressroom.sources.service import SourceSyncs
    from pressroom.wiring import source_specs

    specs = source_specs(settings)
    if not specs:
        return None, lambda: None
    syncs = SourceSyncs(specs)

    def sync(name: str, store: Store, clock: Clock, *, full: bool = False) -> SyncReport:
        return syncs.sync(name, store, clock, full=full, report_bad=log.warning)

    return sync, syncs.close


def job_runner(
    settings: Settings, store: Store, clock: Clock, worker_id: str, jobs: Jobs | None = None
) -> JobRunner:
    """A runner of ``settings``'s jobs for ``worker_id`` (the real work unless ``jobs``)."""
    return JobRunner(
        worker_config(settings), store, clock, worker_id, jobs or default_jobs(settings)
    )


def fire_time_for(settings: Settings, schedule: ScheduleSettings, now: datetime) -> datetime:
    """The fire time a run starting at ``now`` serves: the latest one at or before ``now``.

    A run that APScheduler started late (inside the grace period) or a catch-up run still
    belongs to the period of that fire time; with no fire time in the last year, ``now``.
    """
    trigger = make_trigger(schedule, settings.site.timezone)
    grace = timedelta(seconds=schedule.misfire_grace)
    return latest_fire_time(trigger, now, within=grace) or now


class StartupAction(StrEnum):
    """What start-up does about a schedule's most recent fire time."""

    RUN = "run"  # missed within its grace period: run it once now
    SKIP = "skip"  # missed too long ago: the next run catches up
    NONE = "none"  # done already, or nothing to catch up


@dataclass(frozen=True)
class StartupDecision:
    """What start-up does about one schedule's most recent fire time."""

    schedule: ScheduleSettings
    fire_time: datetime | None
    action: StartupAction
    reason: str


def plan_startup(settings: Settings, store: Store, now: datetime) -> list[StartupDecision]:
    """Per schedule: run its most recent missed period once, skip it, or nothing to do.

    A period counts as done when a digest run of the schedule created since its fire time
    is completed (feeds: a run started since then). A missed one runs if ``now`` is within
    the schedule's ``misfire_grace`` of its fire time; older ones are skipped: the digest
    watermark carries their articles into the next digest, so nothing is lost and there
    is never a backlog of several digests.
    """
    jobs = scheduled_jobs(worker_config(settings))
    return [_decide(settings, store, job, now) for job in jobs]


def _decide(settings: Settings, store: Store, job: Job, now: datetime) -> StartupDecision:
    schedule = _schedule(job)
    grace = timedelta(seconds=schedule.misfire_grace)
    fire = latest_fire_time(make_trigger(schedule, settings.site.timezone), now, within=grace)
    if fire is None:
        return StartupDecision(schedule, None, StartupAction.NONE, "no fire time in the last year")
    rules = job.rules
    with store.read() as conn:
        if rules.sends_digest:  # done when the period's digest run is completed
            done = runs.digest_done_since(conn, schedule.name, fire)
        else:
            done = runs.run_started_since(conn, schedule.name, fire)
    local = _local(settings, schedule, fire)
    if done:
        return StartupDecision(schedule, fire, StartupAction.NONE, f"the run of {local} is done")
    late = now - fire
    if late <= grace:
        return StartupDecision(
            schedule, fire, StartupAction.RUN, f"missed {local}, {_ago(late)} ago"
        )
    carry = rules.carried_by
    reason = f"missed {local}, {_ago(late)} ago, beyond its grace of {_ago(grace)}; {carry}"
    return StartupDecision(schedule, fire, StartupAction.SKIP, reason)


def _local(settings: Settings, schedule: ScheduleSettings, moment: datetime) -> str:
    return moment.astimezone(schedule.zone(settings.site.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_SAME_SIGNAL_S = 0.1
"""A signal this soon after the first is the same stop delivered twice (``timeout`` sends
SIGTERM to the child and again to its process group), not a second request."""


def install_stop_signals(on_first: Callable[[int], None]) -> Callable[[], None]:
    """SIGTERM/SIGINT call ``on_first`` once; a second one exits at once (128 + signal).

    Returns a function that removes the handlers. Feed files are written by rename, so
    even the hard exit leaves no half-written file.
    """
    loop = asyncio.get_running_loop()
    fired: list[float] = []

    def handle(signum: int) -> None:
        if fired and time.monotonic() - fired[0] >= _SAME_SIGNAL_S:
            log.warning("second signal: exiting now")
            logging.shutdown()
            os._exit(128 + signum)
        if not fired:
            fired.append(time.monotonic())
            on_first(signum)

    try:
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, handle, sig)
    except (ValueError, RuntimeError):  # not the main thread: the caller handles signals
        return lambda: None

    def remove() -> None:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)

    return remove


class Worker:
    """The long-running worker: a scheduler, a heartbeat and signal handling."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock = system_clock,
        jobs: Jobs | None = None,
        *,
        stop_timeout: float = STOP_TIMEOUT,
        trigger_factory: TriggerFactory = make_trigger,
    ) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self.worker_id = process_id(clock())
        self.stop_timeout = stop_timeout
        self.trigger_factory = trigger_factory
        self.runner = job_runner(settings, store, clock, self.worker_id, jobs)
        self.results: list[JobResult] = []
        self._jobs: dict[str, Job] = {j.name: j for j in scheduled_jobs(self.runner.config)}
        self._running: set[asyncio.Task[Any]] = set()
        self._stop_requested = asyncio.Event()
        self._catch_up: set[str] = set()  # schedules whose next run is the start-up catch-up
        self._resume: dict[str, datetime] = {}  # digests that failed on the store: their fire
        self._busy: set[str] = set()  # schedules with a run in progress

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT; 0 after a clean stop, 1 if jobs outlived the timeout."""
        remove_signals = install_stop_signals(self.request_stop)
        heartbeat = Heartbeat(self.store, self.worker_id, self.clock, self.runner.open_runs)
        await heartbeat.start()
        scheduler = self._start_scheduler()
        watch = FeedsWatch.start(self.runner)  # None: [feeds] watch = "0"
        resumer = asyncio.create_task(self._resume_forever(), name="pressroom-resume")
        # None: no [sources]; a sync that wrote articles wakes the watch at once
        sources = SourcesLoop.start(self.runner, watch.wake if watch is not None else None)
        log.info("worker %s started with %d schedule(s)", self.worker_id, len(self._jobs))
        try:
            await self._stop_requested.wait()
            scheduler.pause()  # no new runs; running ones finish below
            if sources is not None:
                await sources.stop()  # no new syncs; a running one finishes
            if watch is not None:
                await watch.stop()  # nor watch builds; a running one finishes
            clean = await self._drain()
        finally:
            resumer.cancel()
            await asyncio.gather(resumer, return_exceptions=True)
            if sources is not None:
                await sources.stop()
            if watch is not None:
                await watch.stop()
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # let the scheduler's shutdown callback run
            await heartbeat.stop()
            remove_signals()
            self.runner.jobs.close()  # each source's connections
        log.info("worker %s stopped%s", self.worker_id, "" if clean else " (jobs cut short)")
        return 0 if clean else 1

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop cleanly: no new runs; a running digest finishes its in-flight messages."""
        if self._stop_requested.is_set():
            return
        log.info("stopping: no new runs; waiting for %d running job(s)", len(self._running))
        self.runner.stop.set()
        self._stop_requested.set()

    def _start_scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC)
        for job in self._jobs.values():
            schedule = _schedule(job)
            scheduler.add_job(
                self._job,
                self.trigger_factory(schedule, self.settings.site.timezone),
                args=[job.name],
                id=job.name,
                name=f"{job.kind}:{job.name}",
                coalesce=True,
                max_instances=1,
                # APScheduler drops a run that starts later than this; 0 would drop all.
                misfire_grace_time=max(schedule.misfire_grace, 1),
            )
        scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        scheduler.start()
        for decision in plan_startup(self.settings, self.store, self.clock()):
            self._apply(scheduler, decision)
        return scheduler

    def _apply(self, scheduler: AsyncIOScheduler, decision: StartupDecision) -> None:
        schedule = decision.schedule
        if decision.action is StartupAction.RUN:
            log.info("schedule %s: %s: running it now", schedule.name, decision.reason)
            self._catch_up.add(schedule.name)
            scheduler.modify_job(schedule.name, next_run_time=datetime.now(UTC))
        elif decision.action is StartupAction.SKIP:
            log.warning("schedule %s: skipped: %s", schedule.name, decision.reason)
            record_skip(self.store, self.clock, schedule.job, schedule.name, self.worker_id,
                        JobTrigger.CATCH_UP, decision.reason)  # fmt: skip
        upcoming = next_fire_time(make_trigger(schedule, self.settings.site.timezone), self.clock())
        log.info(
            "schedule %s (%s, %r): next fire %s",
            schedule.name,
            schedule.job,
            schedule.cron,
            _local(self.settings, schedule, upcoming) if upcoming else "never",
        )

    async def _job(self, name: str, resumed: datetime | None = None) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        self._busy.add(name)
        job = self._jobs[name]
        at = resumed or fire_time_for(self.settings, _schedule(job), self.clock())
        try:
            resuming = resumed is not None or name in self._catch_up
            trigger = JobTrigger.CATCH_UP if resuming else JobTrigger.SCHEDULE
            self._catch_up.discard(name)
            result = await self.runner.run(job, at, trigger)
            self.results.append(result)
            self._resume.pop(name, None)
            if result.store_failed and job.rules.sends_digest:
                log.warning("schedule %s: resumed within %.0fs once the store answers",
                            name, RESUME_EVERY)  # fmt: skip
                self._resume[name] = at
        except Exception as exc:  # the store failed while recording: log, keep running
            log.error("schedule %s could not run: %s", name, exc)
            if job.rules.sends_digest:  # the store did not answer: this period, once it does
                self._resume[name] = at
        finally:
            self._busy.discard(name)
            if task is not None:
                self._running.discard(task)

    async def _resume_forever(self) -> None:
        """Resume the digests whose send failed on the store, as soon as it answers: the
        same period's run again (its ledger sends only what is left), not the next period."""
        while True:
            await asyncio.sleep(RESUME_EVERY)
            for name, at in list(self._resume.items()):
                if name in self._busy or self._stop_requested.is_set():
                    continue
                self._resume.pop(name, None)
                await self._job(name, resumed=at)

    def _missed(self, event: JobExecutionEvent) -> None:
        """APScheduler dropped a fire beyond its grace (the loop was blocked): record it."""
        job = self._jobs.get(str(event.job_id))
        if job is None:
            return
        schedule = _schedule(job)
        fire = _local(self.settings, schedule, event.scheduled_run_time)
        reason = f"the fire of {fire} was missed beyond its grace of {schedule.misfire_grace}s"
        log.warning("schedule %s: skipped: %s", schedule.name, reason)
        try:
            record_skip(self.store, self.clock, job.kind, job.name, self.worker_id,
                        JobTrigger.SCHEDULE, reason)  # fmt: skip
        except Exception as exc:  # the store failed: the log line above still tells
            log.error("schedule %s: could not record the skip: %s", schedule.name, exc)

    async def _drain(self) -> bool:
        tasks = set(self._running)
        if not tasks:
            return True
        _done, pending = await asyncio.wait(tasks, timeout=self.stop_timeout)
        if pending:
            log.error(
                "%d job(s) still running after %.0fs; exiting", len(pending), self.stop_timeout
            )
        return not pending


def run_worker(settings: Settings, store: Store, clock: Clock = system_clock) -> int:
    """Run the worker in the foreground until a signal; returns the exit code."""
    return asyncio.run(Worker(settings, store, clock).serve())


def run_once(
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    show_progress: bool = True,
    jobs: Jobs | None = None,
) -> list[JobResult]:
    """Run every schedule's job once (feeds first), each recorded in ``job_runs``.

    Each run serves its schedule's most recent fire time, so a digest that already went
    out for that period sends nothing new (system cron can call this every few minutes).
    No grace check: the operator asked for the run.
    """
    return asyncio.run(_run_once(settings, store, clock, show_progress, jobs))


async def _run_once(
    settings: Settings, store: Store, clock: Clock, show_progress: bool, jobs: Jobs | None
) -> list[JobResult]:
    runner = job_runner(settings, store, clock, process_id(clock()), jobs)
    runner.show_progress = show_progress
    remove_signals = install_stop_signals(lambda _signum: runner.stop.set())
    heartbeat = Heartbeat(store, runner.worker_id, clock, runner.open_runs)  # not "dead"
    await heartbeat.start()
    results = []
    try:
        for job in scheduled_jobs(runner.config):
            if runner.stop.is_set():
                log.info("stopping: %s not run", job.name)
                continue
            trigger = make_trigger(_schedule(job), settings.site.timezone)
            at = latest_fire_time(trigger, clock()) or clock()
            results.append(await runner.run(job, at))
        for job in source_jobs(runner.config):  # each source synced once, too
            if not runner.stop.is_set():
                results.append(await runner.run(job, clock()))
    finally:
        await heartbeat.stop()
        remove_signals()
        runner.jobs.close()  # each source's connections
    return results


def _schedule(job: Job) -> ScheduleSettings:
    """The ``[[schedules]]`` entry of a scheduled job."""
    assert job.schedule is not None, f"{job.name} is not a scheduled job"
    return job.schedule
