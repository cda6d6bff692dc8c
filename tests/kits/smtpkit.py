"""A real aiosmtpd server on 127.0.0.1 (port 0) that records what it received.

The server runs in its own thread with its own event loop, so it serves clients in the
test's loop, in other threads and in subprocesses alike. :class:`FaultyHandler` adds
faults on a share of transactions: 4xx replies, dropped connections, and connections
dropped after the message data arrived (the "did it go through?" case).
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = [
    "FaultyHandler",
    "Received",
    "Recorder",
    "SmtpServer",
    "drop_connection",
    "message_id_of",
    "waiting",
]

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def message_id_of(data: bytes) -> str:
    """The Message-ID header of raw message bytes ('' when missing)."""
    match = _MESSAGE_ID.search(data)
    return match.group(1).decode("ascii") if match else ""


@dataclass(frozen=True)
class Received:
    """One accepted message: envelope and data as the server saw them."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message_id(self) -> str:
        """The Message-ID header of the data."""
        return message_id_of(self.data)


def waiting(server: SMTP) -> bytes:
    """What the client sent after the command being handled, read already: the commands it
    pipelined behind it."""
    return bytes(getattr(server._reader, "_buffer", b""))


@dataclass
class Recorder:
    """An aiosmtpd handler that accepts everything and records it (thread-safe reads).

    aiosmtpd reads commands line by line, so pipelined commands work, but it does not
    advertise ``PIPELINING``: ``pipelining`` adds it to the EHLO reply; ``eightbitmime``
    False takes aiosmtpd's ``8BITMIME`` out. ``protocol``: the aiosmtpd protocol class
    :class:`SmtpServer` serves this handler with (a subclass may hook commands aiosmtpd
    has no handler hook for).
    """

    protocol: ClassVar[type[SMTP]] = SMTP

    delay: float = 0.0
    pipelining: bool = False
    eightbitmime: bool = True
    reject: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    sessions: int = 0
    transactions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Received]:
        """A copy of what was received so far."""
        with self.lock:
            return list(self.received)

    def by_recipient(self) -> Counter[str]:
        """How many messages each recipient got."""
        return Counter(r for item in self.snapshot() for r in item.rcpt_tos)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        if not self.eightbitmime:
            responses = [r for r in responses if r[4:] != "8BITMIME"]
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.transactions += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.reject:
            return f"550 5.1.1 <{address}>: no such user"
        if address in self.defer:
            return f"452 4.2.2 <{address}>: mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.record(envelope)
        return "250 2.0.0 queued"

    def record(self, envelope: Envelope) -> None:
        """Keep ``envelope`` as one received message."""
        data = envelope.content if isinstance(envelope.content, bytes) else b""
        item = Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data)
        with self.lock:
            self.received.append(item)


@dataclass
class FaultyHandler(Recorder):
    """A :class:`Recorder` that fails a share of transactions, chosen at ``MAIL``.

    ``tempfail``: share answered ``451`` at RCPT or at the end of DATA (half each);
    ``drop``: share whose connection is closed on ``MAIL``; ``drop_after_data``: share
    whose connection is closed after the data arrived, without a reply (the message is
    recorded when ``keep_dropped``, as a real server may have queued it).
    """

    tempfail: float = 0.0
    drop: float = 0.0
    drop_after_data: float = 0.0
    keep_dropped: bool = True
    seed: int = 1
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._fate: dict[int, str] = {}

    def _choose(self) -> str:
        roll = self._rng.random()
        for fate, share in (
            ("drop", self.drop),
            ("tempfail-rcpt", self.tempfail / 2),
            ("tempfail-data", self.tempfail / 2),
            ("drop-after-data", self.drop_after_data),
        ):
            if roll < share:
                return fate
            roll -= share
        return "ok"

    def _fault(self, session: Session, fate: str) -> None:
        with self.lock:
            self.faults[fate] += 1

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fate = self._choose()
        self._fate[id(session)] = fate
        if fate == "drop":
            self._fault(session, fate)
            drop_connection(server)
            return "421 4.4.2 dropped"
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._fate.get(id(session)) == "tempfail-rcpt":
            self._fault(session, "tempfail-rcpt")
            return "451 4.3.0 try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fate = self._fate.pop(id(session), "ok")
        if fate == "tempfail-data":
            self._fault(session, fate)
            return "451 4.3.0 queue full, try again later"
        if fate == "drop-after-data":
            self._fault(session, fate)
            if self.keep_dropped:
                self.record(envelope)
            drop_connection(server)
            return "250 2.0.0 never seen by the client"
        return await super().handle_DATA(server, session, envelope)


def drop_connection(server: SMTP) -> None:
    """Close the client's connection at once (no reply, no QUIT)."""
    transport: Any = server.transport
    if transport is not None:
        transport.abort()


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self.expected
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 and a free port, served from a background thread.

    ``starttls`` / ``implicit`` take a server SSL context; ``login`` a (user, password)
    pair that clients must AUTH with; ``smtputf8`` turns on aiosmtpd's ``SMTPUTF8``.
    """

    def __init__(
        self,
        handler: Recorder,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.handler = handler
        self.starttls, self.implicit, self.login = starttls, implicit, login
        self.smtputf8 = smtputf8
        self.host = "127.0.0.1"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def _protocol(self) -> SMTP:
        return self.handler.protocol(
            self.handler,
            hostname="localhost",
            loop=self._loop,
            tls_context=self.starttls,
            require_starttls=self.starttls is not None,
            authenticator=_Authenticator(*self.login) if self.login else None,
            auth_required=self.login is not None,
            auth_require_tls=self.login is not None and self.implicit is None,
            enable_SMTPUTF8=self.smtputf8,
            timeout=30,
        )

    def start(self) -> SmtpServer:
        """Start serving; :attr:`port` is set on return."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _open(self) -> asyncio.AbstractServer:
        return await self._loop.create_server(self._protocol, self.host, 0, ssl=self.implicit)

    def stop(self) -> None:
        """Close the listening socket and stop the thread."""
        if self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                await asyncio.sleep(0)

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
