"""The digest service: what ``digest send``, the worker and the demo call.

:func:`deliver_digest` plans the run of a schedule's current period (or finds it), queues
a delivery for every active subscriber with something to read (in the same transaction
that creates the run), delivers the queue through the configured transport, and marks the
run completed (moving the watermark) only once every delivery is recorded.
:func:`dry_run_digest` builds every message the same way and sends nothing;
:func:`send_digest` picks one of them, or a test copy
(:func:`pressroom.digest.preview.send_test_copy`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pressroom.clock import Clock
from pressroom.delivery.send import deliver
from pressroom.delivery.transport import make_transport
from pressroom.digest.archive import publish_archive
from pressroom.digest.compose import Composer, make_composer
from pressroom.digest.config import DigestConfig
from pressroom.digest.plan import Plan, plan_for_digest, plan_new_run
from pressroom.digest.preview import send_test_copy
from pressroom.digest.report import DigestReport
from pressroom.digest.request import DigestRequest, digest_request
from pressroom.errors import OutputError
from pressroom.models import DeliveryStatus, DigestStatus, Subscriber
from pressroom.process_id import process_id
from pressroom.store import deliveries as ledger
from pressroom.store.digests import Digest, complete_digest, open_digest, supersede_open
from pressroom.store.engine import Store
from pressroom.store.subscribers import active_by_sections, active_subscribers
from pressroom.subscribers.lifecycle import send_bounce_rule

__all__ = [
    "deliver_digest",
    "dry_run_digest",
    "send_digest",
    "send_digest_blocking",
]

log = logging.getLogger("pressroom.digest")


async def send_digest(
    config: DigestConfig,
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
    """The digest of ``schedule`` for the period of ``at``: sent, dry-run, or one test copy.

    Args:
        config: the digest's part of the configuration
            (:func:`pressroom.wiring.digest_config`).
        store: the store (articles, subscribers, digests, deliveries).
        clock: now; the run's window ends at ``clock()``.
        schedule: a digest schedule name (default: the first, or the implicit daily one).
        at: the scheduled fire time that names the period (default ``clock()``).
        dry_run: :func:`dry_run_digest`: select and render every message, send and record
            nothing.
        to: :func:`~pressroom.digest.preview.send_test_copy`: one copy to this address,
            recording nothing.
        show_progress: a progress bar on a terminal.
        stop: when set, in-flight messages finish and the run stays open for a resume.

    Raises:
        UsageError: unknown schedule, or a bad ``to`` address.
        DeliveryError: the mail server cannot be reached (the run stays open).
    """
    if to is not None:
        return await send_test_copy(config, store, clock, to=to, schedule=schedule, at=at)
    if dry_run:
        return dry_run_digest(config, store, clock, schedule=schedule, at=at)
    return await deliver_digest(
        config, store, clock, schedule=schedule, at=at, show_progress=show_progress, stop=stop
    )


async def deliver_digest(
    config: DigestConfig,
    store: Store,
    clock: Clock,
    *,
    schedule: str | None = None,
    at: datetime | None = None,
    show_progress: bool = True,
    stop: asyncio.Event | None = None,
) -> DigestReport:
    """Select, render and deliver the digest of ``schedule`` for the period of ``at``.

    Creates the period's run (or resumes it), delivers every queued message, and
    completes the run once each delivery is recorded. Arguments as :func:`send_digest`.

    Raises:
        UsageError: unknown schedule.
        DeliveryError: the mail server cannot be reached (the run stays open).
    """
    request = digest_request(config, clock, schedule, at)
    digest, plan, created = _start_run(store, request)
    report = DigestReport(
        request.schedule.name, plan.period, articles=len(plan.ranked), digest_id=digest.id
    )
    report.created = created
    if digest.status is not DigestStatus.OPEN:
        report = _finish(store, digest, report, clock)
        if report.completed:
            _publish(config, store)
        return report
    composer = make_composer(request.config, plan, digest.id, digest.created_at)
    worker_id = f"{process_id()}:{secrets.token_hex(3)}"  # unique per call, even in-process
    await _deliver(request, store, clock, digest, composer, report, show_progress, stop, worker_id)
    report.stopped = stop is not None and stop.is_set()
    report = _finish(store, digest, report, clock, worker_id)
    if report.completed:
        _publish(config, store)
    return report


def _publish(config: DigestConfig, store: Store) -> None:
    """Write the public archive; a failure is logged, the mails are sent already."""
    try:
        written = publish_archive(config, store)
    except OutputError as exc:
        log.warning("digest archive not written: %s", exc)
        return
    if written:
        log.info("digest archive: %d file(s) written", len(written))


def dry_run_digest(
    config: DigestConfig,
    store: Store,
    clock: Clock,
    *,
    schedule: str | None = None,
    at: datetime | None = None,
) -> DigestReport:
    """Plan and build every message as :func:`deliver_digest` would; send and record nothing.

    Raises:
        UsageError: unknown schedule.
    """
    request = digest_request(config, clock, schedule, at)
    with store.read() as conn:
        plan = plan_new_run(conn, request.config, request.schedule, request.at, request.now)
        subscribers = active_subscribers(conn, plan.frequency)
    recipients = _recipients(subscribers, plan)
    composer = make_composer(request.config, plan, "dry-run", request.now)
    for subscriber in recipients:
        composer(subscriber)  # render and build every message: proves they can be made
    report = DigestReport(
        request.schedule.name, plan.period, articles=len(plan.ranked), dry_run=True
    )
    report.recipients = len(recipients)
    report.completed = plan.existing is not None and plan.existing.status != DigestStatus.OPEN
    return report


def _start_run(store: Store, request: DigestRequest) -> tuple[Digest, Plan, bool]:
    """Find the period's run, or create it and queue its deliveries in one transaction."""
    chosen, now = request.schedule, request.now
    with store.write() as conn:
        plan = plan_new_run(conn, request.config, chosen, request.at, now)
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
            return digest, plan_for_digest(conn, request.config, chosen, digest), False
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
    request: DigestRequest,
    store: Store,
    clock: Clock,
    digest: Digest,
    composer: Composer,
    report: DigestReport,
    show_progress: bool,
    stop: asyncio.Event | None,
    worker_id: str,
) -> None:
    with store.read() as conn:
        if ledger.unfinished(conn, digest.id) == 0:
            return
    mail = request.config.mail
    async with make_transport(mail, request.config.outbox) as transport:
        done = await deliver(
            store,
            digest.id,
            composer,
            transport,
            on_bounce=send_bounce_rule(mail.bounce_after),
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
        report.remaining = counts[DeliveryStatus.QUEUED] + counts[DeliveryStatus.SENDING]
        if report.remaining == 0 and digest.status is DigestStatus.OPEN:
            summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            complete_digest(conn, digest.id, clock(), summary or "nobody to send to")
        report.completed = report.remaining == 0 and digest.status is not DigestStatus.FAILED
    log.debug("%s", report.summary())
    return report


def send_digest_blocking(
    config: DigestConfig, store: Store, clock: Clock, **options: Any
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
            return await send_digest(config, store, clock, stop=stop, **options)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
