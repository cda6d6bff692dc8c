"""The command-line runs of the worker's jobs: ``feeds build``, ``digest send``,
``bounces process``.

Each is the registry's job run by the same :class:`~pressroom.worker.jobs.JobRunner` as
the worker's, so ``status`` and ``/metrics`` see it exactly as a scheduled run (trigger
``manual``, the command's process id as holder), its heartbeat renewed from a thread
while it works; the job's error is re-raised after it is recorded. A run the store refused
to start is recorded ``skipped`` (reason ``store``) before the command exits, if the store
answers within :data:`~pressroom.worker.recording.END_WAIT_AFTER_STORE_FAILURE` more.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pressroom.clock import Clock
from pressroom.errors import JobFailed
from pressroom.models import JobKind, JobTrigger
from pressroom.process_id import process_id
from pressroom.store.engine import Store
from pressroom.worker.jobs import JobResult, JobRunner
from pressroom.worker.lease import HEARTBEAT_EVERY
from pressroom.worker.recording import RunHeartbeat
from pressroom.worker.registry import Job, Jobs, WorkerConfig, manual_job, source_job

if TYPE_CHECKING:
    from pressroom.bounces.report import BounceReport
    from pressroom.digest.report import DigestReport
    from pressroom.feeds.report import FeedBuildReport
    from pressroom.sources.sync import SyncReport

__all__ = [
    "build_feeds_manually",
    "run_bounces_manually",
    "send_digest_manually",
    "sync_source_manually",
]

log = logging.getLogger("pressroom.worker")
R = TypeVar("R")


def build_feeds_manually(
    config: WorkerConfig, jobs: Jobs, store: Store, clock: Clock, *, force: bool = False
) -> FeedBuildReport:
    """``feeds build``: build under the feeds lease (telling the WebSub hubs).

    Raises:
        JobFailed: another process holds the feeds lease (the run is recorded
            ``skipped``, reason ``lease``).
        StoreUnavailable: the store refused to start the run (recorded ``skipped``, reason
            ``store``, if it answers within 2 s more).
    """
    from pressroom.feeds.report import FeedBuildReport

    result = _run(config, jobs, store, clock, manual_job(JobKind.FEEDS, ""), force=force)
    return _report(result, FeedBuildReport)


def send_digest_manually(
    config: WorkerConfig, jobs: Jobs, store: Store, clock: Clock, *, schedule: str | None
) -> DigestReport:
    """``digest send`` (a real send, not a dry run or a test copy), recorded as a run of
    the digest schedule it serves. The first SIGINT or SIGTERM lets the messages in flight
    finish (the run stays open for a resume); a second one interrupts at once.

    Raises:
        UsageError: no digest schedule has that name (nothing is recorded then).
    """
    from pressroom.digest.plan import resolve_schedule
    from pressroom.digest.report import DigestReport

    chosen = resolve_schedule(config.schedules, schedule)
    job = manual_job(JobKind.DIGEST, chosen.name)
    return _report(_run(config, jobs, store, clock, job, stop_on_signal=True), DigestReport)


def run_bounces_manually(
    config: WorkerConfig, jobs: Jobs, store: Store, clock: Clock
) -> BounceReport:
    """``bounces process``: one leased pass over the bounce mailbox.

    Raises:
        JobFailed: another process is processing the mailbox, or it cannot be read.
    """
    from pressroom.bounces.report import BounceReport

    return _report(_run(config, jobs, store, clock, manual_job(JobKind.BOUNCES)), BounceReport)


def sync_source_manually(
    config: WorkerConfig, jobs: Jobs, store: Store, clock: Clock, name: str, *, full: bool
) -> SyncReport:
    """``sources sync NAME``: one sync of the source under its lease (``--full``: a full
    pass), recorded as a run of the ``sources`` job named after the source.

    Raises:
        SourceError: the source cannot be read (the run is recorded ``failed``).
        JobFailed: another process is syncing the source.
    """
    from pressroom.sources.sync import SyncReport

    result = _run(config, jobs, store, clock, source_job(name), force=full)
    return _report(result, SyncReport)


def _run(
    config: WorkerConfig, jobs: Jobs, store: Store, clock: Clock, job: Job, *,
    force: bool = False, stop_on_signal: bool = False,
) -> JobResult:  # fmt: skip
    runner = JobRunner(config, store, clock, process_id(clock()), jobs, who="process",
                       raise_errors=True, show_progress=True)  # fmt: skip

    async def main() -> JobResult:
        remove = _stop_on_first_signal(runner.stop) if stop_on_signal else None
        try:
            return await runner.run(job, clock(), JobTrigger.MANUAL, force=force)
        finally:
            if remove is not None:
                remove()

    with RunHeartbeat(store, runner.worker_id, HEARTBEAT_EVERY.total_seconds(), runner.open_runs):
        try:
            result = asyncio.run(main())
        except KeyboardInterrupt:
            runner.interrupted()
            raise
        finally:  # a refused start is recorded if the store answers within 2 s
            runner.open_runs.write_before_exit(store)
    if result.reason == "lease":
        raise JobFailed(result.summary)
    return result


def _report(result: JobResult, kind: type[R]) -> R:
    report = result.output.report if result.output is not None else None
    if not isinstance(report, kind):
        raise JobFailed(result.error or result.summary or f"the {result.job} job reported nothing")
    return report


def _stop_on_first_signal(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()

    def first_signal(signum: int) -> None:
        log.warning("stopping after the messages in flight (again to abort)")
        stop.set()
        loop.remove_signal_handler(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, first_signal, signum)

    def remove() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    return remove
