"""The SMTP transport against a real Postfix on loopback: real PIPELINING and Postfix's
pipelining checks (``reject_unauth_pipelining`` before the greeting and at DATA), real
refusals at MAIL, RCPT and the end of the data, SMTPUTF8 and 8BITMIME, relayed on to an
aiosmtpd recorder so that what arrives can be compared with what was sent."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from functools import partial

import pytest
from deliverykit import (
    add_digest,
    add_subscribers,
    delivery_rows,
    simple_compose,
    smtp_settings_for,
)
from postfix_relay import PostfixRelay, missing
from smtpkit import SmtpServer
from support import NOW
from wirekit import ScriptedHandler

from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.send import deliver
from pressroom.delivery.transport import (
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
)
from pressroom.models import DeliveryStatus, Frequency, Subscriber, SubscriberStatus
from pressroom.store import deliveries as ledger
from pressroom.store.engine import Store
from pressroom.subscribers.lifecycle import send_bounce_rule

pytestmark = [
    pytest.mark.smtp,
    pytest.mark.skipif(missing() is not None, reason=missing() or ""),
]

SENDERS = "blocked@example.com REJECT sender refused here\n"
RECIPIENTS = "refuse@example.org REJECT no such user\nlater@example.org 451 4.7.1 try again later\n"
HEADERS = "/^Subject: reject-me/ REJECT content refused\n"
CHECKS = {
    "smtpd_sender_restrictions": "check_sender_access texthash:{config}/senders",
    "smtpd_recipient_restrictions": (
        "check_recipient_access texthash:{config}/recipients, permit_mynetworks, reject"
    ),
    "header_checks": "regexp:{config}/headers",
}


@pytest.fixture(scope="module")
def far_side() -> Iterator[SmtpServer]:
    """The next hop: aiosmtpd with SMTPUTF8, recording what Postfix relays to it."""
    server = SmtpServer(ScriptedHandler(pipelining=False), smtputf8=True).start()
    yield server
    server.stop()


def _relay(far_side: SmtpServer, **settings: str) -> Iterator[PostfixRelay]:
    relay = PostfixRelay(
        next_hop=(far_side.host, far_side.port),
        settings={**CHECKS, **settings},
        files={"senders": SENDERS, "recipients": RECIPIENTS, "headers": HEADERS},
    )
    with relay:
        yield relay


@pytest.fixture(scope="module", params=["pipelined", "lock-step"])
def relay(request: pytest.FixtureRequest, far_side: SmtpServer) -> Iterator[PostfixRelay]:
    """A strict Postfix that offers PIPELINING, or one that hides it."""
    hide = {"smtpd_discard_ehlo_keywords": "pipelining"} if request.param == "lock-step" else {}
    yield from _relay(far_side, **hide)


@pytest.fixture(scope="module")
def plain_relay(far_side: SmtpServer) -> Iterator[PostfixRelay]:
    """A Postfix without SMTPUTF8 that hides 8BITMIME."""
    yield from _relay(far_side, smtputf8_enable="no", smtpd_discard_ehlo_keywords="8bitmime")


def message(i: int, email: str | None = None, subject: str | None = None) -> OutgoingMessage:
    who = Subscriber(i, email or f"user{i}@example.org", f"读者{i}", SubscriberStatus.ACTIVE,
                     Frequency.DAILY)  # fmt: skip
    msg = simple_compose(who)
    if subject is not None:
        msg = OutgoingMessage(msg.sender, msg.recipient,
                              msg.data.replace(b"Subject: =?utf-8?b?5LuK5pel6KaB6Ze7?=",
                                               f"Subject: {subject}".encode()),
                              msg.message_id)  # fmt: skip
    return msg


def transport(relay: PostfixRelay, **overrides: object) -> SmtpTransport:
    settings = smtp_settings_for(relay.host, relay.port, **{"timeout": 10.0, **overrides})
    smtp = SmtpTransport(settings, backoff=0.005, max_backoff=0.02)
    smtp._rng = random.Random(5)
    return smtp


def arrived(far_side: SmtpServer, ids: set[str], timeout: float = 20.0) -> dict[str, bytes]:
    """The relayed messages with these Message-IDs, once all are there (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {r.message_id: r.data for r in far_side.handler.snapshot() if r.message_id in ids}
        if len(got) == len(ids) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


@pytest.mark.slow
def test_messages_pass_postfix_whole_and_its_pipelining_checks_hold(
    relay: PostfixRelay, far_side: SmtpServer
) -> None:
    base = 10_000 * (1 + ("smtpd_discard_ehlo_keywords" in relay.settings))  # unique ids
    messages = [message(base + i) for i in range(40)]
    messages.append(message(base + 99, f"读者{base}@example.org"))  # SMTPUTF8 through Postfix

    async def send() -> bool:
        async with transport(relay, connections=4, smtputf8=True) as smtp:
            await asyncio.gather(*(smtp.send(m) for m in messages))
            assert smtp.extensions is not None
            return smtp.extensions.pipelining

    pipelined = asyncio.run(send())
    assert pipelined is ("smtpd_discard_ehlo_keywords" not in relay.settings)
    got = arrived(far_side, {m.message_id for m in messages})
    assert sorted(got) == sorted(m.message_id for m in messages)
    for m in messages:  # Postfix adds its Received header on top; the rest is ours
        assert got[m.message_id].endswith(m.data)
    log = relay.log_text()
    assert "improper command pipelining" not in log and "reject:" not in log
    assert "SMTPUTF8" in "".join(
        " ".join(o) for o in far_side.handler.mail_options
    )  # Postfix kept the flag on its way on


REFUSALS = [
    (message(1, subject="hello"), None, None),
    (OutgoingMessage("blocked@example.com", "user2@example.org", message(2).data, "<b2@x>"),
     PermanentFailure, "MAIL: 5"),
    (message(3, "refuse@example.org"), PermanentFailure, "RCPT: 5"),
    (message(4, "later@example.org"), TemporaryFailure, "RCPT: 451"),
    (message(5, subject="reject-me please"), PermanentFailure, "DATA end: 5"),
    (message(6, subject="fine"), None, None),
]  # fmt: skip


def test_postfix_refusals_are_attributed_to_their_command(relay: PostfixRelay) -> None:
    async def send() -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        async with transport(relay, connections=1, retries=0) as smtp:
            for msg, _, _ in REFUSALS:
                try:
                    await smtp.send(msg)
                    outcomes.append(None)
                except (PermanentFailure, TemporaryFailure) as exc:
                    outcomes.append(exc)
        return outcomes

    outcomes = asyncio.run(send())
    for (msg, kind, where), outcome in zip(REFUSALS, outcomes, strict=True):
        if kind is None:
            assert outcome is None, (msg.recipient, outcome)
            continue
        assert isinstance(outcome, kind), (msg.recipient, outcome)
        assert where in str(outcome), str(outcome)
        if isinstance(outcome, PermanentFailure):
            assert outcome.bounce is (not where.startswith("MAIL"))


def test_a_ledger_run_through_postfix(
    relay: PostfixRelay, far_side: SmtpServer, sqlite_store: Store
) -> None:
    digest = add_digest(sqlite_store)
    people = add_subscribers(sqlite_store, 30, start=3000)
    tag = 1000 * (1 + ("smtpd_discard_ehlo_keywords" in relay.settings))  # unique ids
    with sqlite_store.write() as conn:
        ledger.enqueue(conn, digest, people)

    async def run() -> None:
        async with transport(relay, connections=3) as smtp:
            await deliver(
                sqlite_store, digest, partial(simple_compose, digest_id=tag), smtp,
                on_bounce=send_bounce_rule(1), clock=lambda: NOW, worker_id="postfix-test",
                show_progress=False,
            )  # fmt: skip

    asyncio.run(run())
    rows = delivery_rows(sqlite_store, digest)
    assert {r["status"] for r in rows.values()} == {DeliveryStatus.SENT}
    ids = {f"<digest-{tag}.sub-{p}@example.com>" for p in people}
    assert len(arrived(far_side, ids)) == 30


@pytest.mark.slow
def test_without_8bitmime_and_smtputf8_through_postfix(
    plain_relay: PostfixRelay, far_side: SmtpServer
) -> None:
    eight, utf8 = message(2001), message(2002, "读者2002@example.org")

    async def send() -> PermanentFailure:
        async with transport(plain_relay, connections=1, smtputf8=True) as smtp:
            await smtp.send(eight)
            with pytest.raises(PermanentFailure, match="does not offer SMTPUTF8") as caught:
                await smtp.send(utf8)
            return caught.value

    refused = asyncio.run(send())
    assert not refused.bounce
    got = arrived(far_side, {eight.message_id})[eight.message_id]
    body = got.split(b"\r\n\r\n", 1)[1]
    assert b"Content-Transfer-Encoding: quoted-printable" in got and body.isascii()


def _read(sock: socket.socket, lines: int = 1) -> bytes:
    """Replies until ``lines`` final reply lines arrived (or the socket's timeout)."""
    data = b""
    while sum(1 for x in data.split(b"\r\n") if x[3:4] == b" ") < lines:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_postfix_refuses_clients_that_do_not_wait(relay: PostfixRelay) -> None:
    """The control: Postfix's pipelining check is live (the message content sent with
    DATA, before its 354, is refused), so the transport passing it above means that it
    waits where it must."""
    with socket.create_connection((relay.host, relay.port), timeout=10) as sock:
        assert _read(sock).startswith(b"220")  # after Postfix's "sleep 1"
        sock.sendall(b"EHLO client.test\r\n")
        offered = "smtpd_discard_ehlo_keywords" not in relay.settings
        assert (b"PIPELINING" in _read(sock)) is offered
        sock.sendall(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
                     b"Subject: early\r\n\r\nsent before the 354\r\n.\r\n")  # fmt: skip
        replies = _read(sock, 3).split(b"\r\n")
    assert replies[0].startswith(b"250") and replies[1].startswith(b"250")
    assert replies[2].startswith(b"503 5.5.0 <DATA>") and b"pipelining" in replies[2]
