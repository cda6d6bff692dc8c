"""The file and SMTP transports, against real files and a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from deliverykit import simple_compose, smtp_settings
from smtpkit import FaultyHandler, Recorder, SmtpServer

from pressroom.config import load_settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.single import send_one
from pressroom.delivery.transport import (
    FileTransport,
    PermanentFailure,
    ServerUnavailable,
    SmtpTransport,
    TemporaryFailure,
    UncertainDelivery,
    eml_name,
    make_transport,
)
from pressroom.models import Frequency, Subscriber, SubscriberStatus

pytestmark = [pytest.mark.smtp, pytest.mark.anyio]

StartServer = Callable[..., SmtpServer]


def person(i: int) -> Subscriber:
    return Subscriber(
        i, f"user{i}@example.org", f"读者{i}", SubscriberStatus.ACTIVE, Frequency.DAILY
    )


def message(i: int) -> OutgoingMessage:
    return simple_compose(person(i))


def fast(smtp: SmtpTransport) -> SmtpTransport:
    """Make retries back off in milliseconds, deterministically."""
    smtp.backoff, smtp.max_backoff = 0.005, 0.02
    smtp._rng = random.Random(7)
    return smtp


async def send_all(transport: SmtpTransport, messages: list[OutgoingMessage]) -> None:
    async with transport:
        await asyncio.gather(*(transport.send(m) for m in messages))


# ---------------------------------------------------------------------------- file


def test_eml_name_is_a_safe_file_name() -> None:
    assert eml_name("<digest-3.sub-17@example.com>") == "digest-3.sub-17@example.com.eml"
    assert eml_name("<../../etc/passwd>") == "etc_passwd.eml"
    assert "/" not in eml_name("<a/b\\c d@x>")
    assert eml_name("<>") == "message.eml"


async def test_file_transport_writes_each_message_atomically(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    async with FileTransport(outbox) as transport:
        for i in range(3):
            await transport.send(message(i))
        await transport.send(message(1))  # the same Message-ID replaces its file
    names = sorted(p.name for p in outbox.iterdir())
    assert names == [f"digest-1.sub-{i}@example.com.eml" for i in range(3)]
    assert (outbox / names[2]).read_bytes() == message(2).data


async def test_file_transport_reports_an_unwritable_outbox(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a folder")
    with pytest.raises(TemporaryFailure, match="outbox"):
        async with FileTransport(blocker):
            pass


async def test_send_one_uses_the_configured_file_outbox(tmp_path: Path) -> None:
    config = tmp_path / "pressroom.toml"
    config.write_text('[mail]\noutbox = "mails"\n', encoding="utf-8")
    settings = load_settings(config)
    outbox = settings.path(settings.mail.outbox)
    assert isinstance(make_transport(settings.mail, outbox), FileTransport)
    await send_one(settings.mail, outbox, message(5))
    assert (tmp_path / "mails" / "digest-1.sub-5@example.com.eml").read_bytes() == message(5).data


# ---------------------------------------------------------------------------- smtp


async def test_many_messages_share_a_few_persistent_connections(smtp_server: StartServer) -> None:
    server = smtp_server()
    messages = [message(i) for i in range(40)]
    await send_all(SmtpTransport(smtp_settings(server, connections=3)), messages)
    received = server.handler.snapshot()
    assert sorted(r.message_id for r in received) == sorted(m.message_id for m in messages)
    assert server.handler.sessions <= 3
    first = next(r for r in received if r.message_id == messages[0].message_id)
    assert first.rcpt_tos == ("user0@example.org",)
    assert first.mail_from == "newsletter@example.com"
    assert first.data.replace(b"\r\n", b"\n") == messages[0].data.replace(b"\r\n", b"\n")


async def test_make_transport_builds_smtp_from_settings(tmp_path: Path) -> None:
    config = tmp_path / "pressroom.toml"
    config.write_text(
        '[mail]\ntransport = "smtp"\n[mail.smtp]\nhost = "mx.example.net"\nconnections = 6\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    transport = make_transport(settings.mail, settings.path(settings.mail.outbox))
    assert isinstance(transport, SmtpTransport)
    assert transport.concurrency == 6 and transport.where == "mx.example.net:587"


async def test_a_4xx_reply_is_retried_until_accepted(smtp_server: StartServer) -> None:
    handler = FaultyHandler(tempfail=0.5, seed=3)
    server = smtp_server(handler)
    messages = [message(i) for i in range(30)]
    await send_all(fast(SmtpTransport(smtp_settings(server, retries=10))), messages)
    assert handler.by_recipient() == {m.recipient: 1 for m in messages}
    assert handler.faults["tempfail-rcpt"] + handler.faults["tempfail-data"] > 5


async def test_4xx_every_time_gives_up_after_the_retries(smtp_server: StartServer) -> None:
    server = smtp_server(FaultyHandler(tempfail=1.0))
    transport = fast(SmtpTransport(smtp_settings(server, retries=2, connections=1)))
    with pytest.raises(TemporaryFailure, match=r"after 3 attempts: .*451") as caught:
        await send_all(transport, [message(1)])
    assert not isinstance(caught.value, ServerUnavailable)
    assert server.handler.transactions == 3
    assert server.handler.received == []


async def test_a_dropped_connection_is_reopened_and_the_message_resent(
    smtp_server: StartServer,
) -> None:
    handler = FaultyHandler(drop=0.3, seed=5)
    server = smtp_server(handler)
    messages = [message(i) for i in range(30)]
    await send_all(fast(SmtpTransport(smtp_settings(server, retries=10))), messages)
    assert handler.by_recipient() == {m.recipient: 1 for m in messages}
    assert handler.faults["drop"] > 3
    assert handler.sessions > handler.faults["drop"]


async def test_5xx_for_the_recipient_is_a_permanent_bounce(smtp_server: StartServer) -> None:
    server = smtp_server(Recorder(reject={"user1@example.org"}))
    with pytest.raises(PermanentFailure, match=r"user1@example.org: RCPT: 550") as caught:
        await send_all(fast(SmtpTransport(smtp_settings(server))), [message(1)])
    assert caught.value.bounce
    assert server.handler.transactions == 1


async def test_a_drop_after_the_data_is_uncertain_and_not_resent(
    smtp_server: StartServer,
) -> None:
    handler = FaultyHandler(drop_after_data=1.0)
    server = smtp_server(handler)
    with pytest.raises(UncertainDelivery, match=r"user1@example\.org"):
        await send_all(fast(SmtpTransport(smtp_settings(server))), [message(1)])
    assert handler.transactions == 1
    assert handler.by_recipient() == {"user1@example.org": 1}


async def test_no_reply_to_the_data_within_the_timeout_is_uncertain(
    smtp_server: StartServer,
) -> None:
    server = smtp_server(Recorder(delay=1.0))
    transport = fast(SmtpTransport(smtp_settings(server, timeout=0.2)))
    with pytest.raises(UncertainDelivery, match=r"user1@example\.org"):
        await send_all(transport, [message(1)])


async def test_an_unreachable_server_is_reported_once(unused_tcp_port: int) -> None:
    settings = smtp_settings(_Closed(unused_tcp_port), retries=2)  # type: ignore[arg-type]
    transport = fast(SmtpTransport(settings))
    with pytest.raises(ServerUnavailable, match=f"127.0.0.1:{unused_tcp_port}"):
        await send_all(transport, [message(1)])


class _Closed:
    host = "127.0.0.1"

    def __init__(self, port: int) -> None:
        self.port = port


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_rate_limit_spaces_messages(smtp_server: StartServer) -> None:
    server = smtp_server()
    started = time.monotonic()
    await send_all(SmtpTransport(smtp_settings(server, rate=50.0)), [message(i) for i in range(11)])
    assert time.monotonic() - started >= 0.19  # 10 gaps of 20 ms
    assert len(server.handler.received) == 11


async def test_leading_dots_survive_the_data_transfer(smtp_server: StartServer) -> None:
    server = smtp_server()
    msg = message(1)
    dotted = OutgoingMessage(msg.sender, msg.recipient, msg.data + b".\r\n..x\r\n", msg.message_id)
    await send_all(SmtpTransport(smtp_settings(server)), [dotted])
    assert server.handler.received[0].data.endswith(b".\r\n..x\r\n")


async def test_starttls_and_auth(
    smtp_server: StartServer, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server(starttls=server_tls, login=("relay", "s3cret-pass"))
    settings = smtp_settings(server, tls="starttls", username="relay", password="s3cret-pass")
    await send_all(SmtpTransport(settings, tls_context=client_tls), [message(1), message(2)])
    assert len(server.handler.received) == 2


async def test_a_wrong_password_is_permanent(
    smtp_server: StartServer, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server(starttls=server_tls, login=("relay", "s3cret-pass"))
    settings = smtp_settings(server, tls="starttls", username="relay", password="wrong")
    with pytest.raises(PermanentFailure, match="login as 'relay' refused") as caught:
        await send_all(SmtpTransport(settings, tls_context=client_tls), [message(1)])
    assert not caught.value.bounce


async def test_implicit_tls(
    smtp_server: StartServer, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server(implicit=server_tls)
    settings = smtp_settings(server, tls="implicit")
    await send_all(SmtpTransport(settings, tls_context=client_tls), [message(3)])
    assert server.handler.by_recipient() == {"user3@example.org": 1}


def test_the_password_never_shows(smtp_server: StartServer) -> None:
    settings = smtp_settings(_Closed(25), password="s3cret-pass")  # type: ignore[arg-type]
    assert "s3cret-pass" not in repr(SmtpTransport(settings).smtp)
    assert os.environ.get("PRESSROOM_MAIL__SMTP__PASSWORD") is None


async def test_an_address_that_could_inject_a_command_is_refused(smtp_server: StartServer) -> None:
    server = smtp_server()
    msg = message(1)
    evil = OutgoingMessage(
        msg.sender, "a@example.org>\r\nRCPT TO:<b@example.org", msg.data, "<e@x>"
    )
    with pytest.raises(PermanentFailure, match="not a deliverable address") as caught:
        await send_all(SmtpTransport(smtp_settings(server)), [evil])
    assert caught.value.bounce
    assert server.handler.transactions == 0


async def test_a_non_ascii_address_is_refused_without_a_bounce(smtp_server: StartServer) -> None:
    server = smtp_server()
    msg = message(1)
    eai = OutgoingMessage(msg.sender, "读者@example.org", msg.data, "<u@x>")
    with pytest.raises(PermanentFailure, match="SMTPUTF8") as caught:
        await send_all(SmtpTransport(smtp_settings(server)), [eai])
    assert not caught.value.bounce
