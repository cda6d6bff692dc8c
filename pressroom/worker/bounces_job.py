"""The ``bounces`` job: process the bounce mailbox while holding the ``bounces`` lease.

Two processes reading one mailbox at once would race to move the same messages; the
lease keeps the worker's job and ``pressroom bounces process`` single, as the feeds
lease does for feed builds. The command records its run in ``job_runs`` too (trigger
``manual``), so ``status`` shows the last pass whoever made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pressroom.bounces.config import bounce_config
from pressroom.bounces.process import process_bounces
from pressroom.bounces.report import BounceReport
from pressroom.clock import Clock
from pressroom.config import Settings
from pressroom.errors import JobFailed
from pressroom.models import JobKind, JobOutcome, JobTrigger
from pressroom.process_id import process_id
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.worker.lease import Lease

__all__ = ["BOUNCES_LEASE", "ProcessBounces", "process_bounces_leased", "run_bounces",
           "run_bounces_manually"]  # fmt: skip

BOUNCES_LEASE = "bounces"
MANUAL_SCHEDULE = "manual"
"""The ``job_runs.schedule`` of a ``pressroom bounces process`` run."""

ProcessBounces = Callable[[Settings, Store, Clock], BounceReport]


def run_bounces(settings: Settings, store: Store, clock: Clock) -> BounceReport:
    """Process the mailbox ``[bounces] source`` names (the ``Jobs.process_bounces`` default).

    Raises:
        ConfigError: ``[bounces] source``, ``[web] secret`` or the IMAP password is missing.
        JobFailed: the mailbox cannot be opened or read.
    """
    return process_bounces(bounce_config(settings), store, clock)


async def process_bounces_leased(
    process: ProcessBounces, settings: Settings, store: Store, clock: Clock, holder: str
) -> tuple[BounceReport | None, str | None]:
    """Run ``process`` in a thread under the lease.

    Returns ``(report, None)``, or ``(None, other_holder)`` when another process holds it.
    """
    async with Lease(store, BOUNCES_LEASE, holder, clock) as lease:
        if not lease.held:
            return None, lease.other
        return await asyncio.to_thread(process, settings, store, clock), None


def run_bounces_manually(settings: Settings, store: Store, clock: Clock) -> BounceReport:
    """``pressroom bounces process``: one leased pass, recorded in ``job_runs`` as manual.

    Raises:
        ConfigError: the configuration is incomplete (nothing is recorded then).
        JobFailed: another process is processing the mailbox, or it cannot be read.
    """
    bounce_config(settings)  # a config problem is a usage error, not a failed run
    holder = process_id(clock())
    with store.write() as conn:
        run_id = runs.start_run(
            conn, job=JobKind.BOUNCES, schedule=MANUAL_SCHEDULE, started_at=clock(),
            worker=holder, trigger=JobTrigger.MANUAL,
        )  # fmt: skip
    outcome, summary, error = JobOutcome.FAILED, "", None
    try:
        report, other = asyncio.run(
            process_bounces_leased(run_bounces, settings, store, clock, holder)
        )
        if report is None:
            outcome, summary = JobOutcome.SKIPPED, f"another process holds the mailbox ({other})"
            raise JobFailed(f"another process is processing the bounce mailbox ({other})")
        outcome, summary = JobOutcome.OK, report.summary()
        return report
    except Exception as exc:
        error = None if outcome is JobOutcome.SKIPPED else str(exc)
        raise
    finally:
        with store.write() as conn:
            runs.finish_run(
                conn, run_id, finished_at=clock(), outcome=outcome, summary=summary, error=error
            )
