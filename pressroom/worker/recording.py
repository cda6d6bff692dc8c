"""The one module that writes ``job_runs``: every run of every job, whoever started it.

A scheduled run, the start-up catch-up, a watch build and a command's run (``feeds
build``, ``digest send``, ``bounces process``) are recorded here alike: the row starts
``running`` (its holder, its trigger), its heartbeat is renewed while it works (by the
worker's heartbeat, or by :class:`RunHeartbeat`'s thread for a command), and it ends with
an outcome judged from the job's :class:`RunOutput` by :func:`judge` (ok, failed,
incomplete, stopped, skipped with a reason) and one log line with the same fields.
A test fails if any other module calls the store's run writers.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from pressroom.clock import Clock
from pressroom.models import JobKind, JobOutcome, JobTrigger
from pressroom.store import runs
from pressroom.store.engine import Store

__all__ = [
    "LEFT_FOR_LATER",
    "STOPPED_BY_SIGNAL",
    "JobResult",
    "RunHeartbeat",
    "RunOutput",
    "abandon_silent_runs",
    "beat_runs",
    "finish_run",
    "judge",
    "log_result",
    "one_line",
    "record_finished_run",
    "record_skip",
    "start_run",
]

log = logging.getLogger("pressroom.worker")

_FINE = (JobOutcome.OK, JobOutcome.SKIPPED, JobOutcome.INCOMPLETE)
STOPPED_BY_SIGNAL = "stopped by a signal; the next run resumes"
LEFT_FOR_LATER = "deliveries left to another sender or a resume"


@dataclass(frozen=True)
class RunOutput:
    """What a job function returns: what the runner records, without guessing.

    Attributes:
        summary: one line: what was done, with counts.
        produced: what the run made (feed files written, messages sent).
        failed: what could not be done, each with its reason (the run failed).
        left: work left undone (deliveries queued or with another sender).
        stopped: a stop was asked for while it ran (what is left waits for a resume).
        changed: the run changed something (a watch build that did not is not recorded).
        report: the job's own report, for the command that prints it.
    """

    summary: str
    produced: int = 0
    failed: tuple[str, ...] = ()
    left: int = 0
    stopped: bool = False
    changed: bool = True
    report: object = None


def judge(output: RunOutput) -> tuple[JobOutcome, str | None]:
    """How a run that returned ``output`` ended: its outcome and error."""
    if output.failed:  # some part could not be done; the rest was
        return JobOutcome.FAILED, "; ".join(output.failed)
    if not output.left:
        return JobOutcome.OK, None
    if output.stopped:
        return JobOutcome.STOPPED, STOPPED_BY_SIGNAL
    # Left queued or claimed by another sender of the same run: not a failure of this
    # run; that sender (or the next run, resuming) finishes them.
    return JobOutcome.INCOMPLETE, LEFT_FOR_LATER


@dataclass(frozen=True)
class JobResult:
    """How one run of a job ended (what its row and its log line say)."""

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
    output: RunOutput | None = None

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


def start_run(
    store: Store, kind: JobKind, schedule: str, started: datetime, holder: str,
    trigger: JobTrigger,
) -> int:  # fmt: skip
    """Open the ``running`` row of a run; its id."""
    with store.write() as conn:
        return runs.start_run(
            conn, job=kind, schedule=schedule, started_at=started, worker=holder, trigger=trigger
        )


def finish_run(store: Store, run_id: int, result: JobResult) -> None:
    """Close row ``run_id`` with ``result`` (its start too: a leased run spans its work)."""
    with store.write() as conn:
        _finish(conn, run_id, result)


def record_finished_run(store: Store, result: JobResult, holder: str) -> None:
    """Record a run that was not recorded while it ran (a watch build that changed
    something, or failed) as one finished row."""
    with store.write() as conn:
        run_id = runs.start_run(
            conn,
            job=result.job,
            schedule=result.schedule,
            started_at=result.started_at,
            worker=holder,
            trigger=result.trigger,
        )
        _finish(conn, run_id, result)


def _finish(conn: Connection, run_id: int, result: JobResult) -> None:
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


def record_skip(
    store: Store, clock: Clock, kind: JobKind, schedule: str, holder: str,
    trigger: JobTrigger, summary: str,
) -> int:  # fmt: skip
    """Record that ``schedule``'s run was skipped because its fire was missed (``summary``
    says which and why): reason ``misfire``."""
    with store.write() as conn:
        return runs.record_skipped(
            conn,
            job=kind,
            schedule=schedule,
            at=clock(),
            worker=holder,
            trigger=trigger,
            reason="misfire",
            summary=summary,
        )


def beat_runs(conn: Connection, holder: str) -> None:
    """Renew the heartbeat of ``holder``'s running runs (inside the caller's transaction:
    the worker's heartbeat writes its own row in the same one)."""
    runs.beat_runs(conn, holder)


def abandon_silent_runs(store: Store, silent_for: timedelta) -> int:
    """Mark running runs silent for ``silent_for`` as ``abandoned``; how many."""
    with store.write() as conn:
        count = runs.abandon_runs(conn, silent_for=silent_for)
    if count:
        log.warning("%d run(s) whose process died were marked abandoned", count)
    return count


class RunHeartbeat:
    """Renews a command's running run from a daemon thread (a command has no worker
    heartbeat), so a killed command's run shows ``abandoned``."""

    def __init__(self, store: Store, holder: str, every: float) -> None:
        self.store, self.holder, self.every = store, holder, every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name="pressroom-run-heartbeat", daemon=True
        )

    def __enter__(self) -> RunHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.store.write() as conn:
                    runs.beat_runs(conn, self.holder)
            except Exception as exc:  # a store hiccup: try at the next beat
                log.warning("could not renew this run's heartbeat: %s", exc)


def log_result(result: JobResult, holder: str) -> None:
    """The one log line of a run: start, outcome, counts (the summary), duration."""
    level = logging.ERROR if result.failed else logging.INFO
    extra = {"job_run": {**result.as_dict(), "worker": holder}}
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


def one_line(exc: BaseException) -> str:
    """An error as the one line a row keeps: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
