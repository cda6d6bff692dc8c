"""The command-line runs of the worker's jobs, each recorded as a ``job_runs`` row.

``pressroom feeds build`` and ``pressroom digest send`` call these, so ``status`` and
``/metrics`` see a manual run exactly as they see a scheduled one (trigger ``manual``,
the command's process id as holder; see :mod:`pressroom.worker.record`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pressroom.clock import Clock
from pressroom.config import Settings
from pressroom.errors import JobFailed
from pressroom.models import JobKind, JobOutcome
from pressroom.store.engine import Store
from pressroom.worker.jobs import build_feeds_leased
from pressroom.worker.record import manual_run

if TYPE_CHECKING:
    from pressroom.digest.report import DigestReport
    from pressroom.feeds.report import FeedBuildReport

__all__ = ["build_feeds_manually", "send_digest_manually"]


def build_feeds_manually(
    settings: Settings, store: Store, clock: Clock, *, force: bool = False
) -> FeedBuildReport:
    """``feeds build``: build under the feeds lease (telling the WebSub hubs), recorded as a
    manual run.

    Raises:
        JobFailed: another process holds the feeds lease (the run is recorded
            ``skipped``, reason ``lease``).
    """
    from pressroom.feeds import FeedConfig
    from pressroom.feeds.websub import build_and_announce

    config = FeedConfig.from_settings(settings)
    with manual_run(store, clock, job=JobKind.FEEDS) as run:
        report, other = asyncio.run(
            build_feeds_leased(build_and_announce, config, store, clock, run.holder, force=force)
        )
        if report is None:
            summary = f"another process is building the feeds ({other})"
            run.ended(JobOutcome.SKIPPED, summary, reason="lease")
        elif report.ok:
            run.ended(JobOutcome.OK, report.summary(), produced=len(report.written))
        else:
            run.ended(
                JobOutcome.FAILED,
                report.summary(),
                "; ".join(report.failed),
                produced=len(report.written),
            )
    if report is None:
        raise JobFailed(f"another process is building the feeds ({other})")
    return report


def send_digest_manually(
    settings: Settings, store: Store, clock: Clock, *, schedule: str | None
) -> DigestReport:
    """``digest send`` (a real send, not a dry run or a test copy), recorded as a manual
    run of the digest schedule it serves; outcomes as the worker records them."""
    from pressroom.digest.plan import resolve_schedule
    from pressroom.digest.service import send_digest_blocking
    from pressroom.wiring import digest_config

    chosen = resolve_schedule(settings.schedules, schedule)
    with manual_run(store, clock, job=JobKind.DIGEST, schedule=chosen.name) as run:
        report = send_digest_blocking(
            digest_config(settings), store, clock, schedule=chosen.name, show_progress=True
        )
        if report.ok and not report.remaining:
            run.ended(JobOutcome.OK, report.summary(), produced=report.sent)
        elif report.stopped:
            run.ended(
                JobOutcome.STOPPED,
                report.summary(),
                "stopped by a signal; the next run resumes",
                produced=report.sent,
            )
        else:
            run.ended(
                JobOutcome.INCOMPLETE,
                report.summary(),
                "deliveries left to another sender or a resume",
                produced=report.sent,
            )
    return report
