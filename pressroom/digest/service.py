"""The digest service: what ``digest send``, ``digest preview``, the worker and demo call.

:func:`send_digest` plans the run of a schedule's current period (or finds it), queues a
delivery for every active subscriber with something to read (in the same transaction
that creates the run), delivers the queue through the configured transport, and marks the
run completed (moving the watermark) only once every delivery is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from pressroom.clock import Clock
from pressroom.config import ScheduleSettings, Settings
from pressroom.digest.compose import Composer, RunIdentity, require_secret
from pressroom.digest.plan import (
    Plan,
    period_noon,
    plan_for_digest,
    plan_new_run,
    resolve_schedule,
    schedule_zone,
)
from pressroom.digest.render import RunInfo
from pressroom.models import Subscriber
from pressroom.store import deliveries as ledger
from pressroom.store.digests import (
    Digest,
    DigestStatus,
    complete_digest,
    open_digest,
    supersede_open,
)
from pressroom.store.engine import Store
from pressroom.store.subscribers import active_by_sections, active_subscribers

if TYPE_CHECKING:
    pass

__all__ = [
    "DigestReport",
    "make_composer",
    "send_digest",
    "send_digest_blocking",
]

log = logging.getLogger("pressroom.digest")


@dataclass
class DigestReport:
    """What one :func:`send_digest` call did."""

    schedule: str
    period: str
    articles: int = 0
    recipients: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    remaining: int = 0
    elsewhere: int = 0
    stopped: bool = False
    seconds: float = 0.0
    digest_id: int | None = None
    created: bool = False
    completed: bool = False
    dry_run: bool = False
    test_to: str | None = None

    @property
    def key(self) -> str:
        """``schedule:period``, e.g. ``daily:2026-11-29``."""
        return f"{self.schedule}:{self.period}"

    @property
    def ok(self) -> bool:
        """True when every delivery is recorded, or the rest are with other live senders.

        Several senders may share one run (``digest send`` on several machines); the one
        that finishes first leaves the others' messages in flight and has not failed.
        """
        if self.remaining == 0:
            return True
        return not self.stopped and self.remaining == self.elsewhere

    def summary(self) -> str:
        """One line for people: the run, the counts and the time taken."""
        if self.test_to is not None:
            return f"digest {self.key}: test copy ({self.articles} articles) sent to {self.test_to}"
        if self.dry_run:
            return (
                f"digest {self.key} (dry run): {self.articles} articles, "
                f"{self.recipients} subscribers would get a mail; nothing sent or recorded"
            )
        if not self.created and self.completed and not (self.sent or self.failed):
            return (
                f"digest {self.key}: already completed ({self.recipients} recipients, "
                f"{self.articles} articles); nothing new to send this period"
            )
        state = "completed" if self.completed else f"open, {self.remaining} left"
        if not self.completed and self.elsewhere:
            state += f" ({self.elsewhere} with other senders)"
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        return (
            f"digest {self.key}: {self.articles} articles, {self.recipients} recipients; "
            f"sent {self.sent}, failed {self.failed}, uncertain {self.uncertain}, "
            f"skipped {self.skipped} in {self.seconds:.1f} s ({rate:.0f}/s); run {state}"
        )


def make_composer(settings: Settings, plan: Plan, digest_id: int | str, date: datetime) -> Composer:
    """The composer of ``plan``'s messages (Message-IDs name ``digest_id``)."""
    zone = schedule_zone(settings, plan.schedule)
    run = RunIdentity(digest_id, plan.schedule.name, plan.period, date)
    info = RunInfo(plan.frequency, period_noon(plan.frequency, plan.period, zone), zone)
    return Composer(settings, plan.contents, run, info)


async def send_digest(
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    schedule: str | None = None,
    at: datetime | None = None,
    dry_run: bool = False,
    to: str | None = None,
    show_progress: bool = True,
    stop: asyncio.Event | None = None,
) -> DigestReport:
    """Select, render and deliver the digest of ``schedule`` for the period of ``at``.

    Args:
        settings: the configuration.
        store: the store (articles, subscribers, digests, deliveries).
        clock: now; the run's window ends at ``clock()``.
        schedule: a digest schedule name (default: the first, or the implicit daily one).
        at: the scheduled fire time that names the period (default ``clock()``).
        dry_run: select and render every message, send and record nothing.
        to: send one test copy to this address and record nothing.
        show_progress: a progress bar on a terminal.
        stop: when set, in-flight messages finish and the run stays open for a resume.

    Raises:
        ConfigError: ``[web] secret`` is missing (links cannot be signed).
        UsageError: unknown schedule, or a bad ``to`` address.
        DeliveryError: the mail server cannot be reached (the run stays open).
    """
    chosen = resolve_schedule(settings, schedule)
    require_secret(settings)
    now = clock()
    when = at or now
    if to is not None:
        from pressroom.digest.preview import send_test_copy

        return await send_test_copy(settings, store, chosen, when, now, to)
    if dry_run:
        return _dry_run(settings, store, chosen, when, now)
    from pressroom.delivery.send import local_worker_id

    digest, plan, created = _start_run(settings, store, chosen, when, now)
    report = DigestReport(chosen.name, plan.period, articles=len(plan.ranked), digest_id=digest.id)
    report.created = created
    if digest.status is not DigestStatus.OPEN:
        return _finish(store, digest, report, clock)
    composer = make_composer(settings, plan, digest.id, digest.created_at)
    worker_id = f"{local_worker_id()}:{secrets.token_hex(3)}"  # unique per call, even in-process
    await _deliver(settings, store, clock, digest, composer, report, show_progress, stop, worker_id)
    report.stopped = stop is not None and stop.is_set()
    return _finish(store, digest, report, clock, worker_id)


def _start_run(
    settings: Settings, store: Store, chosen: ScheduleSettings, at: datetime, now: datetime
) -> tuple[Digest, Plan, bool]:
    """Find the period's run, or create it and queue its deliveries in one transaction."""
    with store.write() as conn:
        plan = plan_new_run(conn, settings, chosen, at, now)
        if plan.existing is not None:
            return plan.existing, plan, False
        digest, created = open_digest(
            conn,
            schedule=chosen.name,
            period=plan.period,
            frequency=plan.frequency,
            window_start=plan.window_start,
            window_end=plan.window_end,
            article_ids=[a.id for a in plan.ranked],
            now=now,
        )
        if not created:  # a concurrent sender created it first: use its frozen selection
            return digest, plan_for_digest(conn, settings, chosen, digest), False
        ledger.enqueue(conn, digest.id, _recipient_ids(conn, plan))
        superseded = supersede_open(conn, chosen.name, digest.id, now)
        if superseded:
            log.warning("digest %s: %d older open run(s) superseded", plan.key, superseded)
        return digest, plan, True


def _recipient_ids(conn: Connection, plan: Plan) -> list[int]:
    """Active subscribers with at least one article in their sections, by id."""
    groups = active_by_sections(conn, plan.frequency)
    return sorted(
        i for choice, ids in groups.items() if plan.contents.for_sections(choice) for i in ids
    )


def _recipients(subscribers: list[Subscriber], plan: Plan) -> list[Subscriber]:
    """The subscribers with at least one article in their sections (nobody gets an empty mail)."""
    return [s for s in subscribers if plan.contents.for_subscriber(s)]


async def _deliver(
    settings: Settings,
    store: Store,
    clock: Clock,
    digest: Digest,
    composer: Composer,
    report: DigestReport,
    show_progress: bool,
    stop: asyncio.Event | None,
    worker_id: str,
) -> None:
    from pressroom.delivery.send import deliver
    from pressroom.delivery.transport import make_transport

    with store.read() as conn:
        if ledger.unfinished(conn, digest.id) == 0:
            return
    async with make_transport(settings) as transport:
        done = await deliver(
            store,
            digest.id,
            composer,
            transport,
            settings=settings,
            clock=clock,
            worker_id=worker_id,
            show_progress=show_progress,
            stop=stop,
        )
    report.sent, report.failed = done.sent, done.failed
    report.uncertain, report.skipped, report.seconds = done.uncertain, done.skipped, done.seconds


def _finish(
    store: Store, digest: Digest, report: DigestReport, clock: Clock, worker_id: str = ""
) -> DigestReport:
    """Complete the run when every delivery is recorded: the watermark moves."""
    with store.write() as conn:
        counts, report.elsewhere = ledger.counts_and_held(conn, digest.id, worker_id)
        report.recipients = sum(counts.values())
        report.remaining = counts["queued"] + counts["sending"]
        if report.remaining == 0 and digest.status is DigestStatus.OPEN:
            summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            complete_digest(conn, digest.id, clock(), summary or "nobody to send to")
        report.completed = report.remaining == 0 and digest.status is not DigestStatus.FAILED
    log.debug("%s", report.summary())
    return report


def _dry_run(
    settings: Settings, store: Store, chosen: ScheduleSettings, at: datetime, now: datetime
) -> DigestReport:
    """Plan and build every message as a send would; send and record nothing."""
    with store.read() as conn:
        plan = plan_new_run(conn, settings, chosen, at, now)
        subscribers = active_subscribers(conn, plan.frequency)
    recipients = _recipients(subscribers, plan)
    composer = make_composer(settings, plan, "dry-run", now)
    for subscriber in recipients:
        composer(subscriber)  # render and build every message: proves they can be made
    report = DigestReport(chosen.name, plan.period, articles=len(plan.ranked), dry_run=True)
    report.recipients = len(recipients)
    report.completed = plan.existing is not None and plan.existing.status != DigestStatus.OPEN
    return report


def send_digest_blocking(
    settings: Settings, store: Store, clock: Clock, **options: Any
) -> DigestReport:
    """Run :func:`send_digest` to the end, for a command line.

    The first SIGINT or SIGTERM sets ``stop`` (messages in flight finish, the run stays
    open for a resume); a second one interrupts at once.
    """

    async def main() -> DigestReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def first_signal(signum: int) -> None:
            log.warning("stopping after the messages in flight (again to abort)")
            stop.set()
            loop.remove_signal_handler(signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, first_signal, signum)
        try:
            return await send_digest(settings, store, clock, stop=stop, **options)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
