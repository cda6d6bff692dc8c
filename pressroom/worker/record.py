"""Runs that the scheduler does not start are ``job_runs`` rows too.

:func:`manual_run` records a command's run (``digest send``, ``feeds build``, later jobs)
with trigger ``manual`` and the command's process id as holder, keeps the row's heartbeat
fresh from a daemon thread while the command works (so a killed command's run shows
``abandoned``), and records how it ended, also when it raised. :func:`record_skip`
records a run that did not happen (a fire missed beyond its grace) with its reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pressroom.clock import Clock
from pressroom.config import ScheduleSettings
from pressroom.models import JobOutcome, JobTrigger
from pressroom.process_id import process_id
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.worker.lease import HEARTBEAT_EVERY

__all__ = ["ManualRun", "manual_run", "record_skip"]

log = logging.getLogger("pressroom.worker")


def record_skip(
    store: Store,
    clock: Clock,
    schedule: ScheduleSettings,
    holder: str,
    trigger: JobTrigger,
    reason: str,
) -> int:
    """Record that ``schedule``'s run was skipped because its fire was missed (``reason``)."""
    with store.write() as conn:
        return runs.record_skipped(
            conn,
            job=schedule.job,
            schedule=schedule.name,
            at=clock(),
            worker=holder,
            trigger=trigger,
            reason="misfire",
            summary=reason,
        )


@dataclass
class ManualRun:
    """The ``job_runs`` row of one command run; say how it ended with :meth:`ended`."""

    run_id: int
    holder: str
    outcome: JobOutcome = JobOutcome.OK
    summary: str = ""
    error: str | None = None
    reason: str | None = None
    produced: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def ended(
        self,
        outcome: JobOutcome,
        summary: str,
        error: str | None = None,
        *,
        reason: str | None = None,
        produced: int = 0,
    ) -> None:
        """Set what :func:`manual_run` records when the block ends."""
        self.outcome, self.summary, self.error = outcome, summary, error
        self.reason, self.produced = reason, produced


@contextmanager
def manual_run(store: Store, clock: Clock, *, job: str, schedule: str = "") -> Iterator[ManualRun]:
    """Record the command's run of ``job`` (``schedule``: the digest schedule it serves).

    The row starts ``running`` (trigger ``manual``, holder this process's id), its
    heartbeat renewed every :data:`~pressroom.worker.lease.HEARTBEAT_EVERY`; when the
    block ends it holds what :meth:`ManualRun.ended` said, ``failed`` with the error's
    first line if the block raised, or ``stopped`` on Ctrl-C.
    """
    holder = process_id(clock())
    with store.write() as conn:
        run_id = runs.start_run(
            conn,
            job=job,
            schedule=schedule,
            started_at=clock(),
            worker=holder,
            trigger=JobTrigger.MANUAL,
        )
    run = ManualRun(run_id, holder)
    beat = threading.Thread(
        target=_beat, args=(store, run), name="pressroom-run-heartbeat", daemon=True
    )
    beat.start()
    try:
        yield run
    except KeyboardInterrupt:
        run.ended(JobOutcome.STOPPED, run.summary, "interrupted")
        raise
    except BaseException as exc:
        run.ended(JobOutcome.FAILED, run.summary, _first_line(exc))
        raise
    finally:
        run._stop.set()
        _finish(store, clock, run)


def _finish(store: Store, clock: Clock, run: ManualRun) -> None:
    try:
        with store.write() as conn:
            runs.finish_run(
                conn,
                run.run_id,
                finished_at=clock(),
                outcome=run.outcome,
                summary=run.summary,
                error=run.error,
                reason=run.reason,
                produced=run.produced,
            )
    except Exception as exc:  # the store is failing: the row goes abandoned by itself
        log.error("could not record the end of this run (%s); it will show abandoned", exc)


def _beat(store: Store, run: ManualRun) -> None:
    while not run._stop.wait(HEARTBEAT_EVERY.total_seconds()):
        try:
            with store.write() as conn:
                runs.beat_runs(conn, run.holder)
        except Exception as exc:  # a store hiccup: try at the next beat
            log.warning("could not renew this run's heartbeat: %s", exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
