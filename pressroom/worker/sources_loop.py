"""The sources loop: ``pressroom run`` syncs each ``[sources.<name>]`` every ``interval``.

One task per source. Each sync is the registry's ``sources`` job for that source, run by
the worker's :class:`~pressroom.worker.jobs.JobRunner` under the source's own lease
(``source:<name>``: one process syncs a source at a time, across machines), recorded in
``job_runs`` (schedule = the source's name) only when it changed something or failed, as
the watch's builds are: a sync every 5 s that finds nothing is not a run. A failure (the
source unreachable, its query refused) is logged once while it lasts, recorded, and the
source is tried again after :data:`FAILED_PAUSE`; the other sources and the worker go on.
The commit of a sync that wrote articles is what the feeds watch turns into feed files; the
loop wakes the watch at once (``on_change``) rather than leaving it to its next look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pressroom.models import JobOutcome, JobTrigger
from pressroom.worker.jobs import JobRunner
from pressroom.worker.registry import Job, source_jobs

__all__ = ["FAILED_PAUSE", "SourcesLoop"]

log = logging.getLogger("pressroom.worker")

FAILED_PAUSE = 30.0
"""Seconds before a source whose sync failed is tried again (each failure is a row)."""
STOP_WAIT = 30.0


class SourcesLoop:
    """Syncs every configured source on its interval until stopped."""

    def __init__(self, runner: JobRunner, on_change: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.on_change = on_change
        self.syncs = 0
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._problems: dict[str, str | None] = {}

    @classmethod
    def start(
        cls, runner: JobRunner, on_change: Callable[[], None] | None = None
    ) -> SourcesLoop | None:
        """Start a task per source (None when no source is configured); ``on_change`` is
        called after each sync that wrote something (the feeds watch's ``wake``)."""
        jobs = source_jobs(runner.config)
        if not jobs:
            return None
        loop = cls(runner, on_change)
        intervals = {source.name: source.interval for source in runner.config.sources}
        for job in jobs:
            run = loop.run(job, intervals[job.name])
            loop._tasks.append(asyncio.create_task(run, name=f"pressroom-source-{job.name}"))
        log.info("sources: syncing %s", ", ".join(job.name for job in jobs))
        return loop

    async def stop(self) -> None:
        """Stop syncing; a running sync finishes (up to 30 s)."""
        self._stopping.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_WAIT)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run(self, job: Job, interval: float) -> None:
        """Sync ``job``'s source, then wait ``interval`` (longer after a failure)."""
        while not self._stopping.is_set():
            wait = interval
            try:
                result = await self.runner.run_recorded_when_changed(
                    job, JobTrigger.SCHEDULE, self.runner.worker_id
                )
            except Exception as exc:  # the store failed while recording: keep going
                result = None
                self._complain(job.name, f"{type(exc).__name__}: {exc}")
                wait = max(interval, FAILED_PAUSE)
            if result is not None:
                self.syncs += 1
                if result.outcome is JobOutcome.FAILED:
                    self._complain(job.name, result.error or result.summary)
                    wait = max(interval, FAILED_PAUSE)
                else:
                    self._problems[job.name] = None
                    output = result.output
                    if output is not None and output.changed and self.on_change is not None:
                        self.on_change()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)

    def _complain(self, name: str, problem: str) -> None:
        level = logging.DEBUG if self._problems.get(name) == problem else logging.ERROR
        log.log(level, "source %s: %s; trying again every %gs", name, problem, FAILED_PAUSE)
        self._problems[name] = problem
