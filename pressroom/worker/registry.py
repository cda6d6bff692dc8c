"""The job registry: every job the worker and the commands run, each one value.

A :class:`Job` says what runs (its function), under which lease, on which trigger (a
``[[schedules]]`` entry; none for the watch and the commands) and under which name its
runs are recorded; :class:`~pressroom.worker.jobs.JobRunner` executes any of them and
:mod:`pressroom.worker.recording` records the run. This is the one module of the worker
that tells the job kinds apart (:data:`_FUNCTIONS`); everything else asks the value.

Adding a job is one kind in :class:`~pressroom.models.JobKind` with its rules in
:mod:`pressroom.job_kinds`, one function here (``async (JobContext) -> RunOutput``) and
its line in :data:`_FUNCTIONS`.

The ``sources`` kind is one job per ``[sources.<name>]`` (:func:`source_jobs`), named after
the source and holding a lease of its own (``source:<name>``); it runs on the source's
``interval`` (:mod:`pressroom.worker.sources_loop`), not on a cron schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from pressroom.clock import Clock
from pressroom.config import DEFAULT_SCHEDULES, ScheduleSettings
from pressroom.errors import JobFailed
from pressroom.job_kinds import KindRules, kind_rules
from pressroom.models import JobKind
from pressroom.store.engine import Store
from pressroom.worker.lease import BOUNCES_LEASE, SOURCE_LEASE_PREFIX, feeds_lease_name
from pressroom.worker.recording import RunOutput
from pressroom.worker.threads import in_thread

if TYPE_CHECKING:
    from pressroom.bounces.report import BounceReport
    from pressroom.digest.report import DigestReport
    from pressroom.feeds import FeedConfig
    from pressroom.feeds.report import FeedBuildReport
    from pressroom.sources.sync import SyncReport

__all__ = [
    "MANUAL_SCHEDULE",
    "WATCH_SCHEDULE",
    "BuildFeeds",
    "Job",
    "JobContext",
    "Jobs",
    "ProcessBounces",
    "SendDigest",
    "SourceEvery",
    "SyncSource",
    "WorkerConfig",
    "effective_schedules",
    "job_for",
    "manual_job",
    "scheduled_jobs",
    "source_job",
    "source_jobs",
    "watch_job",
]

WATCH_SCHEDULE = "watch"
"""The ``job_runs.schedule`` of a watch-triggered build."""
MANUAL_SCHEDULE = "manual"
"""The ``job_runs.schedule`` of a command's run of a job that has no schedule of its own."""


class BuildFeeds(Protocol):
    """The signature of :func:`pressroom.feeds.build_feeds`."""

    def __call__(
        self, config: FeedConfig, store: Store, *, now: datetime, force: bool = False
    ) -> FeedBuildReport: ...


class SendDigest(Protocol):
    """:func:`pressroom.digest.service.send_digest` with its configuration bound."""

    async def __call__(
        self,
        store: Store,
        clock: Clock,
        *,
        schedule: str,
        at: datetime,
        show_progress: bool = ...,
        stop: asyncio.Event | None = ...,
    ) -> DigestReport: ...


ProcessBounces = Callable[[Store, Clock], "BounceReport"]
"""One pass over the bounce mailbox, its configuration bound."""


class SyncSource(Protocol):
    """One sync of a named source, the sources' configuration bound
    (:meth:`pressroom.sources.service.SourceSyncs.sync`)."""

    def __call__(
        self, name: str, store: Store, clock: Clock, *, full: bool = False
    ) -> SyncReport: ...


@dataclass(frozen=True)
class Jobs:
    """The work each kind of job does (the worker's start-up binds the configuration;
    tests pass fakes)."""

    build_feeds: BuildFeeds
    send_digest: SendDigest
    process_bounces: ProcessBounces
    sync_source: SyncSource | None = None
    """None: no source is configured."""
    close: Callable[[], None] = lambda: None
    """Release what the jobs keep between runs (each source's connections); the worker
    calls it as it stops."""


@dataclass(frozen=True, slots=True)
class SourceEvery:
    """A ``[sources.<name>]`` as the worker sees it: its name and ``interval`` (seconds)."""

    name: str
    interval: float


@dataclass(frozen=True)
class WorkerConfig:
    """The configuration the worker's jobs, the watch and ``status`` read.

    Attributes:
        schedules: the effective ``[[schedules]]`` (feeds first; the defaults when none).
        site_timezone: ``[site] timezone``, for schedules without their own.
        feeds: the feeds' part of the settings.
        watch_every: ``[feeds] watch`` in seconds (0: no watch).
        sources: the ``[sources.<name>]``, each with its interval.
    """

    schedules: tuple[ScheduleSettings, ...]
    site_timezone: str
    feeds: FeedConfig
    watch_every: float = 0.0
    sources: tuple[SourceEvery, ...] = ()

    @property
    def feeds_lease(self) -> str:
        """The lease a feeds build takes (store-wide or this machine's)."""
        return feeds_lease_name(self.feeds.feeds.lease, self.feeds.output_dir)


@dataclass
class JobContext:
    """What a job function gets for one run."""

    config: WorkerConfig
    jobs: Jobs
    store: Store
    clock: Clock
    schedule: str
    at: datetime
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    show_progress: bool = False
    force: bool = False


JobFunction = Callable[[JobContext], Awaitable[RunOutput]]
LeasePolicy = Callable[[WorkerConfig], str]
"""The lease a job holds while it works (one holder at a time across processes)."""


@dataclass(frozen=True)
class Job:
    """One job: what the runner executes and records.

    Attributes:
        name: the ``job_runs.schedule`` of its runs (a schedule's name, ``watch``...).
        kind: what it does (``job_runs.job``).
        run: the function it runs.
        lease: the lease it holds while it works, or None (it may run alongside itself).
        schedule: its cron trigger, or None (the watch and the commands start it).
    """

    name: str
    kind: JobKind
    run: JobFunction
    lease: LeasePolicy | None = None
    schedule: ScheduleSettings | None = None

    @property
    def rules(self) -> KindRules:
        """What the kind means to ``status``, ``/metrics`` and the start-up catch-up."""
        return kind_rules(self.kind)


async def build_feeds(ctx: JobContext) -> RunOutput:
    """The feeds job: build the feeds that changed (in a thread)."""
    report = await in_thread(
        lambda: ctx.jobs.build_feeds(ctx.config.feeds, ctx.store, now=ctx.clock(), force=ctx.force)
    )
    return RunOutput(
        report.summary(),
        produced=len(report.written),
        failed=tuple(report.failed),
        changed=bool(report.written or report.removed),
        report=report,
    )


async def send_digest(ctx: JobContext) -> RunOutput:
    """The digest job: send the schedule's digest for the period of ``ctx.at``."""
    report = await ctx.jobs.send_digest(
        ctx.store,
        ctx.clock,
        schedule=ctx.schedule,
        at=ctx.at,
        show_progress=ctx.show_progress,
        stop=ctx.stop,
    )
    return RunOutput(
        report.summary(),
        produced=report.sent,
        left=report.remaining,
        stopped=report.stopped or ctx.stop.is_set(),
        report=report,
    )


async def process_bounces(ctx: JobContext) -> RunOutput:
    """The bounces job: one pass over the bounce mailbox (in a thread)."""
    report = await asyncio.to_thread(ctx.jobs.process_bounces, ctx.store, ctx.clock)
    return RunOutput(report.summary(), report=report)


async def sync_source(ctx: JobContext) -> RunOutput:
    """The sources job: one sync of the source named ``ctx.schedule`` (in a thread); with
    ``force`` a full pass. A sync that wrote nothing did not change anything."""
    syncs = ctx.jobs.sync_source
    if syncs is None:
        raise JobFailed(f"source {ctx.schedule}: no [sources] are configured")
    report = await in_thread(lambda: syncs(ctx.schedule, ctx.store, ctx.clock, full=ctx.force))
    return RunOutput(
        report.summary(), produced=report.changed, changed=report.changed > 0, report=report
    )


def _feeds_lease(config: WorkerConfig) -> str:
    return config.feeds_lease


def _bounces_lease(_config: WorkerConfig) -> str:
    return BOUNCES_LEASE


_FUNCTIONS: dict[JobKind, tuple[JobFunction, LeasePolicy | None]] = {
    JobKind.FEEDS: (build_feeds, _feeds_lease),
    JobKind.DIGEST: (send_digest, None),
    JobKind.BOUNCES: (process_bounces, _bounces_lease),
}
"""What each kind runs, and the lease it holds."""


def job_for(schedule: ScheduleSettings) -> Job:
    """The job a ``[[schedules]]`` entry runs."""
    run, lease = _FUNCTIONS[schedule.job]
    return Job(schedule.name, schedule.job, run, lease, schedule)


def scheduled_jobs(config: WorkerConfig) -> list[Job]:
    """Every job the worker runs on a trigger, feeds first: one per ``[[schedules]]`` entry
    (a job that runs per configured item, such as a source, adds its values here)."""
    return [job_for(schedule) for schedule in config.schedules]


def source_job(name: str) -> Job:
    """The job that syncs the source ``name`` (its runs: schedule = the source's name)."""

    def lease(_config: WorkerConfig) -> str:
        return f"{SOURCE_LEASE_PREFIX}{name}"

    return Job(name, JobKind.SOURCES, sync_source, lease)


def source_jobs(config: WorkerConfig) -> list[Job]:
    """One job per configured source, in name order."""
    return [source_job(source.name) for source in config.sources]


def manual_job(kind: JobKind, name: str = MANUAL_SCHEDULE) -> Job:
    """The job a command runs (``feeds build``: recorded without a schedule name)."""
    run, lease = _FUNCTIONS[kind]
    return Job(name, kind, run, lease)


def watch_job() -> Job:
    """The feeds build the watch starts (its runs: schedule ``watch``)."""
    return manual_job(JobKind.FEEDS, WATCH_SCHEDULE)


def effective_schedules(configured: Iterable[ScheduleSettings]) -> list[ScheduleSettings]:
    """The configured schedules (feeds jobs first), or :data:`DEFAULT_SCHEDULES`."""
    schedules: Sequence[ScheduleSettings] = list(configured) or DEFAULT_SCHEDULES
    return sorted(schedules, key=lambda s: s.job is not JobKind.FEEDS)
