"""PIPELINING and 8BITMIME against a real aiosmtpd: every reply path of a message, with
and without pipelining, through the transport alone and through the ledger."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from functools import partial

import pytest
from deliverykit import add_digest, add_subscribers, delivery_rows, simple_compose, smtp_settings
from digestkit import parse_message
from smtpkit import SmtpServer
from support import NOW
from wirekit import ScriptedHandler

from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.send import deliver
from pressroom.delivery.transport import (
    PermanentFailure,
    ServerUnavailable,
    SmtpTransport,
    TemporaryFailure,
    UncertainDelivery,
)
from pressroom.models import DeliveryStatus, Frequency, Subscriber, SubscriberStatus
from pressroom.store import deliveries as ledger
from pressroom.store.engine import Store
from pressroom.store.subscribers import get_subscriber
from pressroom.subscribers.lifecycle import send_bounce_rule

pytestmark = [pytest.mark.smtp, pytest.mark.anyio]

Start = Callable[..., SmtpServer]


def message(i: int) -> OutgoingMessage:
    who = Subscriber(
        i, f"user{i}@example.org", f"读者{i}", SubscriberStatus.ACTIVE, Frequency.DAILY
    )
    return simple_compose(who)


def transport(server: SmtpServer, **overrides: object) -> SmtpTransport:
    smtp = SmtpTransport(smtp_settings(server, **overrides), backoff=0.005, max_backoff=0.02)
    smtp._rng = random.Random(3)
    return smtp


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_commands_go_in_one_write_only_when_pipelining_is_offered(
    smtp_server: Start, pipelining: bool
) -> None:
    handler = ScriptedHandler(pipelining=pipelining)
    server = smtp_server(handler)
    messages = [message(i) for i in range(30)]
    smtp = transport(server, connections=3)
    async with smtp:
        await asyncio.gather(*(smtp.send(m) for m in messages))
        assert smtp.extensions is not None and smtp.extensions.pipelining is pipelining
    assert handler.by_recipient() == {m.recipient: 1 for m in messages}
    assert handler.grouped == [pipelining] * 30
    got = {r.message_id: r.data for r in handler.snapshot()}
    assert all(got[m.message_id] == m.data for m in messages)


# Each fate on the first transaction, no retries: what the transport raises, and where.
CASES = {
    "MAIL 451": (TemporaryFailure, "MAIL: 451", None),
    "MAIL 550": (PermanentFailure, "MAIL: 550", False),
    "MAIL 421": (TemporaryFailure, "MAIL: 421", None),
    "RCPT 451": (TemporaryFailure, "RCPT: 451", None),
    "RCPT 550": (PermanentFailure, "RCPT: 550", True),
    "DATA 451": (TemporaryFailure, "DATA: 451", None),
    "DATA 554": (PermanentFailure, "DATA: 554", False),
    "end 451": (TemporaryFailure, "DATA end: 451", None),
    "end 554": (PermanentFailure, "DATA end: 554", True),
    "drop at MAIL": (TemporaryFailure, "MAIL: ", None),
    "drop at DATA": (TemporaryFailure, "DATA: ", None),
    "drop after data": (UncertainDelivery, "DATA end: ", None),
}


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
@pytest.mark.parametrize("fate", list(CASES))
async def test_each_reply_is_attributed_to_its_command(
    smtp_server: Start, fate: str, pipelining: bool
) -> None:
    kind, where, bounce = CASES[fate]
    handler = ScriptedHandler(script=[fate], pipelining=pipelining)
    server = smtp_server(handler)
    smtp = transport(server, connections=1, retries=0, timeout=2.0)
    async with smtp:
        with pytest.raises(kind, match=where) as caught:
            await smtp.send(message(1))
        assert not isinstance(caught.value, ServerUnavailable)
        if bounce is not None:
            assert isinstance(caught.value, PermanentFailure) and caught.value.bounce is bounce
        await smtp.send(message(2))  # the session (or a new one) carries the next message
    delivered = handler.by_recipient()
    assert delivered["user2@example.org"] == 1
    assert delivered.get("user1@example.org", 0) == (1 if fate == "drop after data" else 0)
    assert handler.played[0] == fate


# Through the ledger: refusals before the data are failures (permanent) or retried
# (temporary) and never duplicated; after the data without a reply: uncertain; a
# permanent refusal of the recipient counts a bounce (bounce_after = 1).
LEDGER = {
    "MAIL 451": (DeliveryStatus.SENT, False, 1),
    "RCPT 451": (DeliveryStatus.SENT, False, 1),
    "DATA 451": (DeliveryStatus.SENT, False, 1),
    "end 451": (DeliveryStatus.SENT, False, 1),
    "drop at MAIL": (DeliveryStatus.SENT, False, 1),
    "drop at DATA": (DeliveryStatus.SENT, False, 1),
    "MAIL 550": (DeliveryStatus.FAILED, False, 0),
    "DATA 554": (DeliveryStatus.FAILED, False, 0),
    "RCPT 550": (DeliveryStatus.FAILED, True, 0),
    "end 554": (DeliveryStatus.FAILED, True, 0),
    "drop after data": (DeliveryStatus.UNCERTAIN, False, 1),
}


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
@pytest.mark.parametrize("fate", list(LEDGER))
async def test_the_ledger_rules_hold_for_every_reply(
    smtp_server: Start, sqlite_store: Store, fate: str, pipelining: bool
) -> None:
    status, bounced, copies = LEDGER[fate]
    handler = ScriptedHandler(script=[fate], pipelining=pipelining)
    server = smtp_server(handler)
    digest = add_digest(sqlite_store)
    people = add_subscribers(sqlite_store, 3)
    with sqlite_store.write() as conn:
        ledger.enqueue(conn, digest, people)
    smtp = transport(server, connections=1, retries=1, timeout=2.0)
    async with smtp:
        report = await deliver(
            sqlite_store, digest, partial(simple_compose, digest_id=digest), smtp,
            on_bounce=send_bounce_rule(1), clock=lambda: NOW, worker_id="test", show_progress=False,
        )  # fmt: skip
    rows = delivery_rows(sqlite_store, digest)
    first = rows[people[0]]
    assert first["status"] == status, first
    assert [rows[p]["status"] for p in people[1:]] == [DeliveryStatus.SENT] * 2
    with sqlite_store.read() as conn:
        subscriber = get_subscriber(conn, people[0])
    assert subscriber is not None
    assert (subscriber.status is SubscriberStatus.BOUNCED) is bounced
    counts = handler.by_recipient()
    assert counts.get("user0@example.org", 0) == copies
    assert counts["user1@example.org"] == counts["user2@example.org"] == 1
    assert report.sent == 2 + (status is DeliveryStatus.SENT)


# ---------------------------------------------------------------------------- 8BITMIME


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_8bit_bodies_announce_8bitmime(smtp_server: Start, pipelining: bool) -> None:
    handler = ScriptedHandler(pipelining=pipelining)
    server = smtp_server(handler)
    eight = message(1)
    ascii_data = eight.data.replace(eight.data.split(b"\r\n\r\n", 1)[1], b"plain text\r\n")
    plain = OutgoingMessage(eight.sender, "user2@example.org", ascii_data, "<ascii@x>")
    async with transport(server, connections=1) as smtp:
        await smtp.send(eight)
        await smtp.send(plain)
    assert handler.mail_options == [("BODY=8BITMIME",), ()]
    assert [r.data for r in handler.snapshot()] == [eight.data, plain.data]


async def test_without_8bitmime_the_body_goes_quoted_printable(smtp_server: Start) -> None:
    handler = ScriptedHandler(eightbitmime=False)
    server = smtp_server(handler)
    original = message(1)
    async with transport(server, connections=1) as smtp:
        assert smtp.extensions is None
        await smtp.send(original)
        assert smtp.extensions is not None and not smtp.extensions.eightbitmime
    (got,) = handler.snapshot()
    assert handler.mail_options == [()]
    assert got.data.isascii() and max(map(len, got.data.split(b"\r\n"))) <= 76
    sent, before = parse_message(got.data), parse_message(original.data)
    assert sent["Content-Transfer-Encoding"] == "quoted-printable"
    assert sent.get_content() == before.get_content()
    assert sent["Message-ID"] == before["Message-ID"]


async def test_a_message_with_its_own_7bit_form_is_sent_in_that_form(smtp_server: Start) -> None:
    handler = ScriptedHandler(eightbitmime=False)
    server = smtp_server(handler)
    original = message(1)
    calls: list[int] = []

    def seven() -> bytes:
        calls.append(1)
        return original.data.replace("读者".encode(), b"=?reader?=").replace(b"8bit", b"7bit")

    own = OutgoingMessage(original.sender, original.recipient, original.data, "<o@x>", seven)
    async with transport(server, connections=1) as smtp:
        await smtp.send(own)
    assert calls == [1]
    assert b"=?reader?=" in handler.snapshot()[0].data
