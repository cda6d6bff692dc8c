"""The one module that writes ``job_runs``: every run of every job, whoever started it.

A scheduled run, the start-up catch-up, a watch build and a command's run (``feeds
build``, ``digest send``, ``bounces process``) are recorded here alike: the row starts
``running`` (its holder, its trigger), its heartbeat is renewed while it works (by the
worker's heartbeat, or by :class:`RunHeartbeat`'s thread for a command; only the runs
:class:`OpenRuns` holds as in progress), and it ends with
an outcome judged from the job's :class:`RunOutput` by :func:`judge` (ok, failed,
incomplete, stopped, skipped with a reason) and one log line with the same fields.
A run whose end cannot be written (the store failed) keeps its end in :class:`OpenRuns`
and is written as soon as the store answers again, before anything else of its holder;
so is a run whose start the store refused (``skipped``, reason ``store``), as a lease
refusal is recorded ``skipped``, reason ``lease``.
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
    "END_WAIT_AFTER_STORE_FAILURE",
    "LEFT_FOR_LATER",
    "MAX_UNWRITTEN_RUNS",
    "STOPPED_BY_SIGNAL",
    "STORE_REFUSED",
    "JobResult",
    "OpenRuns",
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
END_WAIT_AFTER_STORE_FAILURE = 2.0
"""Seconds the end of a run that failed on the store waits for the lock: the store just
failed, so waiting a whole busy timeout again would break the documented stop bound; an
end not written is kept and written later (a worker), or the row shows abandoned. A holder
about to exit waits as long to record a run the store refused to start."""
RETRY_BEAT_AFTER = 1.0
"""Seconds before a heartbeat the store refused is tried again (a live holder must not
look dead for a whole beat after a lock)."""
LEFT_FOR_LATER = "deliveries left to another sender or a resume"
MAX_UNWRITTEN_RUNS = 100
"""Whole run records a holder keeps while the store refuses them (a watch that fails every
pause of a long outage must not grow without bound); beyond it, only the log tells."""
STORE_REFUSED = "store"
"""The reason of a run ``skipped`` because the store refused to start it (locked beyond
the busy timeout, a PostgreSQL lock timeout, unreachable): its error is the store's."""


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
    store_failed: bool = False
    """It failed because the store did not answer (the worker resumes such a digest)."""

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


def finish_run(
    store: Store, run_id: int, result: JobResult, *, busy_timeout: float | None = None
) -> None:
    """Close row ``run_id`` with ``result`` (its start too: a leased run spans its work);
    ``busy_timeout``: wait at most this long for SQLite's lock (default: the store's)."""
    with store.write(busy_timeout=busy_timeout) as conn:
        _finish(conn, run_id, result)


def record_finished_run(
    store: Store, result: JobResult, holder: str, *, busy_timeout: float | None = None
) -> None:
    """Record a run that was not recorded while it ran (a watch build that changed
    something, or failed; a run the store refused to start) as one finished row."""
    with store.write(busy_timeout=busy_timeout) as conn:
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


class OpenRuns:
    """A holder's runs in progress, and the records it could not write yet (thread-safe).

    Two kinds wait: the end of a started run the store refused (its row stays
    ``running`` meanwhile, then shows ``abandoned``), and a whole run whose start the store
    refused (``skipped``, reason :data:`STORE_REFUSED`: it has no row yet). The heartbeat
    renews only :meth:`in_progress`; :meth:`write_ends` writes what waits, and is called
    before anything else once the store answers again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one writer at a time: a refusal is one row
        self._running: set[int] = set()
        self._ends: dict[int, JobResult] = {}
        self._refused: list[tuple[JobResult, str]] = []

    def started(self, run_id: int) -> None:
        """Run ``run_id`` is in progress."""
        with self._lock:
            self._running.add(run_id)

    def ended(self, run_id: int, unwritten: JobResult | None = None) -> None:
        """Run ``run_id`` is over; ``unwritten``: its end, which the store refused."""
        with self._lock:
            self._running.discard(run_id)
            if unwritten is not None:
                self._ends[run_id] = unwritten

    def unwritten(self, result: JobResult, holder: str) -> None:
        """``result`` is the whole record of a run of ``holder``'s that the store refused
        (its start; a watch run's record): written once the store answers."""
        with self._lock:
            if len(self._refused) >= MAX_UNWRITTEN_RUNS:
                log.error("%s job %s: not recorded (%d run records wait already)",
                          result.job, result.schedule, len(self._refused))  # fmt: skip
                return
            self._refused.append((result, holder))

    def in_progress(self) -> list[int]:
        """The runs in progress now."""
        with self._lock:
            return sorted(self._running)

    def waiting(self) -> int:
        """How many records (ends and refused runs) wait to be written."""
        with self._lock:
            return len(self._ends) + len(self._refused)

    def write_ends(self, store: Store, *, busy_timeout: float | None = None) -> int:
        """Write every record the store refused before (ends, then whole runs, each in its
        own transaction); how many (raises if the store still fails)."""
        with self._writing:
            with self._lock:
                ends = dict(self._ends)
            for run_id, result in sorted(ends.items()):
                finish_run(store, run_id, result, busy_timeout=busy_timeout)
                with self._lock:
                    self._ends.pop(run_id, None)
                log.warning(
                    "%s job %s: its end (%s) is recorded now that the store answers",
                    result.job, result.schedule, result.outcome,
                )  # fmt: skip
            return len(ends) + self._write_runs(store, busy_timeout)

    def write_before_exit(self, store: Store) -> None:
        """A holder about to exit: write the whole run records that wait (a start the store
        refused), waiting at most :data:`END_WAIT_AFTER_STORE_FAILURE` for SQLite's lock;
        log what still could not be written. Ends are left to show ``abandoned``: a
        command's documented bound after a store failure has no room for a second wait."""
        with self._writing:
            try:
                self._write_runs(store, END_WAIT_AFTER_STORE_FAILURE)
            except Exception as exc:  # the store still refuses: the log keeps what it lost
                with self._lock:
                    lost = len(self._refused)
                # INFO: each refusal was logged already, and a command's error says why
                log.info("%d refused run(s) not recorded before exit: %s", lost, exc)

    def _write_runs(self, store: Store, busy_timeout: float | None) -> int:
        with self._lock:
            refused = list(self._refused)
        for result, holder in refused:
            record_finished_run(store, result, holder, busy_timeout=busy_timeout)
            with self._lock:
                self._refused.remove((result, holder))
            log.warning(
                "%s job %s: the run the store refused to start at %s is recorded now",
                result.job, result.schedule, result.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )  # fmt: skip
        return len(refused)


def beat_runs(conn: Connection, holder: str, open_runs: OpenRuns) -> None:
    """Renew the heartbeat of ``holder``'s runs in progress (inside the caller's
    transaction: the worker's heartbeat writes its own row in the same one)."""
    runs.beat_runs(conn, holder, open_runs.in_progress())


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

    def __init__(self, store: Store, holder: str, every: float, open_runs: OpenRuns) -> None:
        self.store, self.holder, self.every, self.open_runs = store, holder, every, open_runs
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
        wait = self.every
        while not self._stop.wait(wait):
            try:
                self.open_runs.write_ends(self.store)
                with self.store.write() as conn:
                    runs.beat_runs(conn, self.holder, self.open_runs.in_progress())
            except Exception as exc:  # a store hiccup: try again at once, not a beat later
                log.warning("could not renew this run's heartbeat: %s", exc)
                wait = RETRY_BEAT_AFTER
            else:
                wait = self.every


def log_result(result: JobResult, holder: str) -> None:
    """The one log line of a run: start, outcome, counts (the summary), duration."""
    level = logging.ERROR if result.failed else logging.INFO
    if result.reason == STORE_REFUSED:  # not run, and no other holder ran it either
        # a command's own error line says so: its stderr stays one sentence
        level = logging.INFO if result.trigger is JobTrigger.MANUAL else logging.WARNING
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
