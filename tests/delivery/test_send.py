"""deliver(): the ledger and a real transport together (aiosmtpd on 127.0.0.1, files)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from deliverykit import add_digest, add_subscribers, delivery_rows, simple_compose, smtp_settings
from smtpkit import FaultyHandler, Recorder, SmtpServer
from support import NOW

from pressroom.config import Settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.send import DEFAULT_LEASE, DeliveryReport, deliver
from pressroom.delivery.transport import (
    FileTransport,
    ServerUnavailable,
    SmtpTransport,
    TemporaryFailure,
)
from pressroom.models import Subscriber, SubscriberStatus
from pressroom.store import deliveries as ledger
from pressroom.store.engine import Store
from pressroom.store.subscriber_writes import set_status
from pressroom.store.subscribers import get_subscriber
from pressroom.subscribers.lifecycle import send_bounce_rule

pytestmark = [pytest.mark.smtp, pytest.mark.anyio]

StartServer = Callable[..., SmtpServer]


def queue(store: Store, count: int) -> tuple[int, list[int]]:
    digest = add_digest(store)
    people = add_subscribers(store, count)
    with store.write() as conn:
        ledger.enqueue(conn, digest, people)
    return digest, people


def smtp(server: SmtpServer, **overrides: object) -> SmtpTransport:
    transport = SmtpTransport(smtp_settings(server, **overrides), backoff=0.005, max_backoff=0.02)
    transport._rng = random.Random(11)
    return transport


async def run(
    store: Store,
    digest: int,
    transport: SmtpTransport | FileTransport,
    settings: Settings,
    *,
    compose: Callable[[Subscriber], OutgoingMessage] | None = None,
    worker_id: str = "test-sender",
    stop: asyncio.Event | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> DeliveryReport:
    async with transport:
        return await deliver(
            store,
            digest,
            compose or partial(simple_compose, digest_id=digest),
            transport,
            on_bounce=send_bounce_rule(settings.mail.bounce_after),
            clock=lambda: NOW,
            worker_id=worker_id,
            show_progress=False,
            stop=stop,
            batch_size=16,
            lease=lease,
        )


def statuses(store: Store, digest: int) -> dict[str, int]:
    with store.read() as conn:
        return {k: v for k, v in ledger.counts(conn, digest).items() if v}


async def test_every_queued_delivery_gets_exactly_one_message(
    store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server()
    digest, _ = queue(store, 60)
    report = await run(store, digest, smtp(server), settings)
    assert (report.sent, report.failed, report.uncertain, report.skipped) == (60, 0, 0, 0)
    assert server.handler.by_recipient() == {f"user{i}@example.org": 1 for i in range(60)}
    assert statuses(store, digest) == {"sent": 60}
    recorded = [(r["message_id"], r["attempts"]) for r in delivery_rows(store, digest).values()]
    assert {m for m, _ in recorded} == {m.message_id for m in server.handler.snapshot()}
    assert {a for _, a in recorded} == {1}

    again = await run(store, digest, smtp(server), settings)
    assert (again.sent, again.failed) == (0, 0)
    assert len(server.handler.received) == 60


async def test_file_transport_delivers_the_queue_into_the_outbox(
    sqlite_store: Store, tmp_path: Path, settings: Settings
) -> None:
    digest, _ = queue(sqlite_store, 5)
    report = await run(sqlite_store, digest, FileTransport(tmp_path / "outbox"), settings)
    assert report.sent == 5
    names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(names) == 5 and all(n.startswith(f"digest-{digest}.sub-") for n in names)


async def test_faults_end_delivered_once_or_recorded_failed(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    handler = FaultyHandler(tempfail=0.10, drop=0.02, seed=42)
    server = smtp_server(handler)
    digest, _ = queue(sqlite_store, 300)
    report = await run(sqlite_store, digest, smtp(server, retries=3), settings)
    got = handler.by_recipient()
    assert max(got.values()) == 1
    rows = [(r["email"], r["status"]) for r in delivery_rows(sqlite_store, digest).values()]
    assert {status for _, status in rows} <= {"sent", "failed"}
    assert {email for email, status in rows if status == "sent"} == set(got)
    assert report.sent + report.failed == 300 and report.sent == len(got)
    assert handler.faults["drop"] >= 2 and handler.faults["tempfail-rcpt"] >= 10


async def test_drop_after_data_is_uncertain_and_never_resent(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    handler = FaultyHandler(drop_after_data=0.2, seed=9)
    server = smtp_server(handler)
    digest, _ = queue(sqlite_store, 40)
    first = await run(sqlite_store, digest, smtp(server), settings)
    assert first.uncertain == handler.faults["drop-after-data"] > 0
    assert first.sent + first.uncertain == 40
    second = await run(sqlite_store, digest, smtp(server), settings)
    assert second == DeliveryReport(seconds=second.seconds)
    assert max(handler.by_recipient().values()) == 1


async def test_a_5xx_fails_the_delivery_and_bounces_the_subscriber(
    store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server(Recorder(reject={"user2@example.org"}))
    digest, people = queue(store, 4)
    report = await run(store, digest, smtp(server), settings)
    assert (report.sent, report.failed) == (3, 1)
    with store.read() as conn:
        bounced = get_subscriber(conn, people[2])
    error = delivery_rows(store, digest)[people[2]]["last_error"]
    assert bounced is not None and bounced.status is SubscriberStatus.BOUNCED
    assert "550" in error


async def test_people_who_left_since_the_run_was_queued_are_skipped(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server()
    digest, people = queue(sqlite_store, 5)
    with sqlite_store.write() as conn:
        set_status(conn, people[1], SubscriberStatus.UNSUBSCRIBED, NOW)
    report = await run(sqlite_store, digest, smtp(server), settings)
    assert (report.sent, report.skipped) == (4, 1)
    assert "user1@example.org" not in server.handler.by_recipient()


async def test_a_compose_error_fails_only_that_delivery(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server()
    digest, people = queue(sqlite_store, 4)

    def compose(subscriber: Subscriber) -> OutgoingMessage:
        if subscriber.id == people[0]:
            raise ValueError("template broke")
        return simple_compose(subscriber, digest)

    report = await run(sqlite_store, digest, smtp(server), settings, compose=compose)
    assert (report.sent, report.failed) == (3, 1)


async def test_stop_finishes_in_flight_and_leaves_the_rest_queued(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    handler = Recorder(delay=0.01)
    server = smtp_server(handler)
    digest, _ = queue(sqlite_store, 80)
    stop = asyncio.Event()

    async def stop_soon() -> None:
        while len(handler.received) < 10:
            await asyncio.sleep(0.005)
        stop.set()

    stopper = asyncio.create_task(stop_soon())
    first = await run(sqlite_store, digest, smtp(server), settings, stop=stop)
    await stopper
    assert 10 <= first.sent < 80
    with sqlite_store.read() as conn:
        held = ledger.claimers(conn, digest)
    assert statuses(sqlite_store, digest) == {"sent": first.sent, "queued": 80 - first.sent}
    assert held == []
    second = await run(sqlite_store, digest, smtp(server), settings)
    assert first.sent + second.sent == 80
    assert set(handler.by_recipient().values()) == {1}


async def test_an_unreachable_server_leaves_everything_queued(
    sqlite_store: Store, settings: Settings
) -> None:
    class Closed:
        host, port = "127.0.0.1", 9  # discard: nothing listens there

    digest, _ = queue(sqlite_store, 10)
    with pytest.raises(ServerUnavailable, match="10 deliveries stay queued"):
        await run(sqlite_store, digest, smtp(Closed(), retries=1), settings)  # type: ignore[arg-type]
    assert statuses(sqlite_store, digest) == {"queued": 10}
    with sqlite_store.read() as conn:
        assert ledger.claimers(conn, digest) == []


async def test_rows_of_a_dead_sender_are_resent_and_nobody_is_skipped(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server()
    digest, _ = queue(sqlite_store, 6)
    with sqlite_store.write() as conn:  # a sender on another host that went silent
        claimed = ledger.claim(conn, digest, "gone-host:1:0", 3)
        first_id, _ = claimed[0]
    await asyncio.sleep(0.3)  # longer than the lease below, by the store's clock
    report = await run(sqlite_store, digest, smtp(server), settings, lease=timedelta(seconds=0.2))
    assert report.sent == 6
    assert statuses(sqlite_store, digest) == {"sent": 6}
    attempts = {r["id"]: r["attempts"] for r in delivery_rows(sqlite_store, digest).values()}
    assert attempts[first_id] == 2


async def test_a_relay_refusing_everything_halts_the_run_with_all_queued(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server(FaultyHandler(tempfail=1.0))
    digest, _ = queue(sqlite_store, 30)
    with pytest.raises(TemporaryFailure, match=r"in a row .* 30 deliveries stay queued"):
        await run(sqlite_store, digest, smtp(server, retries=1), settings)
    assert statuses(sqlite_store, digest) == {"queued": 30}
    assert server.handler.received == []


async def test_a_mailbox_that_stays_full_is_tried_again_once_then_failed(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    server = smtp_server(Recorder(defer={"user3@example.org"}))
    digest, people = queue(sqlite_store, 6)
    report = await run(sqlite_store, digest, smtp(server, retries=1), settings)
    assert (report.sent, report.failed) == (5, 1)
    row = delivery_rows(sqlite_store, digest)[people[3]]
    assert row["status"] == "failed" and row["attempts"] == 2 and "452" in row["last_error"]


async def test_a_cancelled_sender_hands_its_rows_back(
    sqlite_store: Store, smtp_server: StartServer, settings: Settings
) -> None:
    handler = Recorder(delay=0.01)
    server = smtp_server(handler)
    digest, _ = queue(sqlite_store, 60)
    task = asyncio.create_task(run(sqlite_store, digest, smtp(server), settings))
    while len(handler.received) < 10:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    left = statuses(sqlite_store, digest)
    assert set(left) <= {"sent", "queued"} and left["queued"] > 0
    with sqlite_store.read() as conn:
        assert ledger.claimers(conn, digest) == []
    await run(sqlite_store, digest, smtp(server), settings)
    got = handler.by_recipient()
    assert len(got) == 60 and sum(n - 1 for n in got.values()) <= 4  # in flight at most
