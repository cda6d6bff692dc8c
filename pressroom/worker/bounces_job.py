"""The ``bounces`` job: process the bounce mailbox while holding the ``bounces`` lease.

Two processes reading one mailbox at once would race to move the same messages; the
lease keeps the worker's job and ``pressroom bounces process`` single, as the feeds
lease does for feed builds. The command records its run in ``job_runs`` too (trigger
``manual``), so ``status`` shows the last pass whoever made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pressroom.bounces.process import process_bounces
from pressroom.bounces.report import BounceReport
from pressroom.clock import Clock
from pressroom.config import Settings
from pressroom.errors import JobFailed
from pressroom.models import JobKind, JobOutcome
from pressroom.store.engine import Store
from pressroom.wiring import bounce_config
from pressroom.worker.lease import Lease
from pressroom.worker.record import manual_run

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
    # manual_run: the row, its heartbeat while the pass runs, and how it ended (failed
    # with the error's first line if it raised).
    with manual_run(store, clock, job=JobKind.BOUNCES, schedule=MANUAL_SCHEDULE) as run:
        report, other = asyncio.run(
            process_bounces_leased(run_bounces, settings, store, clock, run.holder)
        )
        if report is None:
            summary = f"another process holds the mailbox ({other})"
            run.ended(JobOutcome.SKIPPED, summary, reason="lease")
        else:
            run.ended(JobOutcome.OK, report.summary())
    if report is None:
        raise JobFailed(f"another process is processing the bounce mailbox ({other})")
    return report
