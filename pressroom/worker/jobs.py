"""The job runner: executes any :class:`~pressroom.worker.registry.Job` and records it.

One path for every run: the worker's schedules, the start-up catch-up, the watch and the
commands. The runner opens the run's row, takes the job's lease (a run that cannot is
``skipped`` with reason ``lease``), calls the job's function, judges its
:class:`~pressroom.worker.recording.RunOutput` and closes the row (a leased run's row
spans the work itself, not the lease bookkeeping around it, so two workers' rows show
what the lease guarantees: one after the other). Recording is
:mod:`pressroom.worker.recording`'s.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from pressroom.clock import Clock
from pressroom.errors import StoreError, StoreUnavailable
from pressroom.models import JobOutcome, JobTrigger
from pressroom.store.engine import Store
from pressroom.worker import recording
from pressroom.worker.lease import Lease
from pressroom.worker.recording import JobResult, OpenRuns, RunOutput
from pressroom.worker.registry import Job, JobContext, Jobs, WorkerConfig

__all__ = ["JobResult", "JobRunner"]

log = logging.getLogger("pressroom.worker")


@dataclass(frozen=True)
class _Ended:
    outcome: JobOutcome
    summary: str
    error: str | None = None
    reason: str | None = None
    output: RunOutput | None = None
    started: datetime | None = None
    finished: datetime | None = None
    store_failed: bool = False


@dataclass
class JobRunner:
    """Runs jobs for one holder (a worker, or a command's process) and records each run.

    Attributes:
        who: how a lease skip names the other holder's kind ("worker", "process").
        raise_errors: a command's run re-raises the job's error after recording it; the
            worker's records it and carries on.
    """

    config: WorkerConfig
    store: Store
    clock: Clock
    worker_id: str
    jobs: Jobs
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    show_progress: bool = False
    who: str = "worker"
    raise_errors: bool = False
    open_runs: OpenRuns = field(default_factory=OpenRuns)
    _open: dict[int, tuple[Job, datetime, JobTrigger, datetime]] = field(default_factory=dict)

    async def run(
        self,
        job: Job,
        at: datetime,
        trigger: JobTrigger = JobTrigger.SCHEDULE,
        *,
        force: bool = False,
        lease_holder: str | None = None,
    ) -> JobResult:
        """Run ``job`` for the fire time ``at``, recorded; never raises for a job failure
        (unless :attr:`raise_errors`)."""
        # Ends the store refused earlier are written before anything else (while the store
        # still fails, this run does not start: it is recorded skipped once it answers).
        started = self.clock()
        try:
            await asyncio.to_thread(self.open_runs.write_ends, self.store)
            run_id = await asyncio.to_thread(
                recording.start_run, self.store, job.kind, job.name, started, self.worker_id,
                trigger,
            )  # fmt: skip
        except StoreUnavailable as exc:
            result = self._refused(job, at, trigger, started, exc)
            if self.raise_errors:
                raise
            return result
        self.open_runs.started(run_id)
        ctx = JobContext(
            self.config, self.jobs, self.store, self.clock, job.name, at, self.stop,
            self.show_progress, force,
        )  # fmt: skip
        self._open[run_id] = (job, at, trigger, started)
        try:
            ended = await self._outcome(job, ctx, lease_holder or self.worker_id)
        except (KeyboardInterrupt, asyncio.CancelledError):
            ended = _Ended(JobOutcome.STOPPED, "", "interrupted")
            await asyncio.shield(self._close(job, at, trigger, run_id, started, ended))
            raise
        except Exception as exc:  # the job boundary: record, log, keep the worker alive
            log.debug("job %s failed", job.name, exc_info=True)
            failed_on_store = isinstance(exc, StoreError)
            ended = _Ended(
                JobOutcome.FAILED, "", recording.one_line(exc), store_failed=failed_on_store
            )
            result = await self._close(job, at, trigger, run_id, started, ended)
            if self.raise_errors:
                raise
            return result
        return await self._close(job, at, trigger, run_id, started, ended)

    def _refused(
        self, job: Job, at: datetime, trigger: JobTrigger, started: datetime,
        exc: StoreUnavailable,
    ) -> JobResult:  # fmt: skip
        """The store refused to start the run: ``skipped`` (reason ``store``), kept in
        :attr:`open_runs` until the store takes it, as a lease refusal is recorded."""
        ended = _Ended(JobOutcome.SKIPPED, "not started: the store refused it", str(exc),
                       recording.STORE_REFUSED, store_failed=True)  # fmt: skip
        result = self._result(job, at, trigger, started, ended)
        self.open_runs.unwritten(result, self.worker_id)
        recording.log_result(result, self.worker_id)
        return result

    def interrupted(self) -> None:
        """Close the runs still open as ``stopped`` (a second Ctrl-C ended the event loop
        before they could close themselves)."""
        stopped = _Ended(JobOutcome.STOPPED, "", "interrupted")
        for run_id, (job, at, trigger, started) in list(self._open.items()):
            result = self._result(job, at, trigger, started, stopped)
            self._open.pop(run_id, None)
            self.open_runs.ended(run_id)
            try:
                recording.finish_run(self.store, run_id, result)
            except Exception as exc:  # the store is failing: the row goes abandoned by itself
                log.error("could not record the end of this run (%s); it will show abandoned", exc)

    async def run_recorded_when_changed(
        self, job: Job, trigger: JobTrigger, lease_holder: str
    ) -> JobResult | None:
        """Run ``job`` and record it only when it changed something or failed (the watch:
        a look that found nothing to do is not a run); None when another holder had it."""
        started = self.clock()
        ctx = JobContext(self.config, self.jobs, self.store, self.clock, job.name, started)
        try:
            ended = await self._outcome(job, ctx, lease_holder)
        except Exception as exc:
            ended = _Ended(JobOutcome.FAILED, "", recording.one_line(exc))
        if ended.reason == "lease":
            log.debug("%s: %s", job.name, ended.summary)
            return None
        result = self._result(job, started, trigger, started, ended)
        if result.outcome is JobOutcome.FAILED or (ended.output and ended.output.changed):
            try:
                await asyncio.to_thread(
                    recording.record_finished_run, self.store, result, self.worker_id
                )
            except StoreUnavailable as exc:  # kept, and written once the store answers
                self.open_runs.unwritten(result, self.worker_id)
                log.error("%s: could not record the run yet: %s", job.name, exc)
            except Exception as exc:  # the store failed while recording: log, carry on
                log.error("%s: could not record the run: %s", job.name, exc)
            recording.log_result(result, self.worker_id)
        return result

    async def _outcome(self, job: Job, ctx: JobContext, holder: str) -> _Ended:
        if job.lease is None:
            return self._judged(await job.run(ctx))
        async with Lease(self.store, job.lease(self.config), holder, self.clock) as lease:
            if not lease.held:
                summary = f"another {self.who} is {job.rules.busy} ({lease.other})"
                return _Ended(JobOutcome.SKIPPED, summary, reason="lease")
            began = self.clock()
            output = await job.run(ctx)
            ended = self._judged(output)
            return _Ended(ended.outcome, ended.summary, ended.error, None, output, began,
                          self.clock())  # fmt: skip

    def _judged(self, output: RunOutput) -> _Ended:
        outcome, error = recording.judge(output)
        return _Ended(outcome, output.summary, error, None, output)

    async def _close(
        self, job: Job, at: datetime, trigger: JobTrigger, run_id: int, started: datetime,
        ended: _Ended,
    ) -> JobResult:  # fmt: skip
        result = self._result(job, at, trigger, started, ended)
        self._open.pop(run_id, None)
        wait = recording.END_WAIT_AFTER_STORE_FAILURE if ended.store_failed else None
        try:
            await asyncio.to_thread(
                partial(recording.finish_run, busy_timeout=wait), self.store, run_id, result
            )
        except Exception as exc:
            # Kept, and written once the store answers (the heartbeat, or the next run,
            # first); meanwhile the row is no longer renewed, so it shows abandoned.
            self.open_runs.ended(run_id, unwritten=result)
            log.error("%s: could not record the end of this run yet: %s", job.name, exc)
            if self.raise_errors:
                raise
        else:
            self.open_runs.ended(run_id)
        if trigger is not JobTrigger.MANUAL:  # a command prints its own report
            recording.log_result(result, self.worker_id)
        return result

    def _result(
        self, job: Job, at: datetime, trigger: JobTrigger, started: datetime, ended: _Ended
    ) -> JobResult:
        output = ended.output
        return JobResult(
            job.kind, job.name, at, ended.started or started, ended.finished or self.clock(),
            ended.outcome, ended.summary, ended.error, trigger, ended.reason,
            output.produced if output else 0, output, ended.store_failed,
        )  # fmt: skip
