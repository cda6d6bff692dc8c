"""Transports: how an :class:`OutgoingMessage` leaves, as a file or over SMTP.

Every transport is an async context manager with one coroutine, ``send(msg)``, that
returns once the message is safely handed over, or raises one of:

* :class:`TemporaryFailure`: not delivered, retrying later may work (4xx replies, dropped
  connections and timeouts that outlasted ``[mail.smtp] retries``);
  :class:`ServerUnavailable` is the special case "no connection could be opened at all".
* :class:`PermanentFailure`: the server refused for good (a 5xx reply).
* :class:`UncertainDelivery`: the connection was lost after the whole message was sent
  but before the server's final reply; the server may have queued it, so it must not be
  resent automatically (that could mail the person twice).

:class:`SmtpTransport` keeps a pool of ``connections`` persistent aiosmtplib connections
and sends many messages over each one; a global rate limit spaces transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import socket
import ssl
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, cast

import aiosmtplib

from pressroom.config import MailSettings, SmtpSettings
from pressroom.delivery.mime import seven_bit
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.smtp_wire import (
    Attempt,
    AttemptKind,
    Extensions,
    Lost,
    Wire,
    describe,
    frame,
    mailbox_path,
    transact,
)
from pressroom.errors import DeliveryError

__all__ = [
    "FileTransport",
    "PermanentFailure",
    "ServerUnavailable",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "UncertainDelivery",
    "eml_name",
    "make_transport",
]


class TemporaryFailure(DeliveryError):
    """Raised when a message was not delivered but a later try may succeed (4xx, drops)."""


class ServerUnavailable(TemporaryFailure):
    """Raised when no connection to the SMTP server could be opened after every retry."""


class PermanentFailure(DeliveryError):
    """Raised when the server refused the message for good (a 5xx reply).

    ``bounce`` is True when the refusal concerns the recipient (``RCPT`` or the final
    reply to ``DATA``), so the address should count a bounce; False when the server
    refused our sender or session, which says nothing about the subscriber.
    """

    def __init__(self, message: str, *, bounce: bool) -> None:
        super().__init__(message)
        self.bounce = bounce


class UncertainDelivery(DeliveryError):
    """Raised when the connection was lost after the message data went out but before
    the server's final reply: it may or may not have been accepted, so never resend it."""


class Transport(Protocol):
    """Something that can deliver messages; use it as ``async with transport: ...``."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def send(self, msg: OutgoingMessage) -> None:
        """Deliver ``msg`` or raise a :class:`~pressroom.errors.DeliveryError` subclass."""
        ...


# ---------------------------------------------------------------------------- file


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@+=-]+")


def eml_name(message_id: str) -> str:
    """A safe file name (``digest-3.sub-17@example.com.eml``) derived from a Message-ID."""
    stem = _UNSAFE_NAME.sub("_", message_id.strip().strip("<>")).strip("._") or "message"
    return stem[:200] + ".eml"


class FileTransport:
    """Writes each message to ``outbox/<name from Message-ID>.eml``, atomically.

    The file appears complete or not at all (temp file, fsync, rename), so a crash never
    leaves half a message; sending the same Message-ID again replaces the file.
    """

    concurrency = 1
    idempotent = True  # sending a message again rewrites the same file

    def __init__(self, outbox: Path, *, fsync: bool = True) -> None:
        self.outbox = outbox
        self.fsync = fsync

    async def __aenter__(self) -> Self:
        try:
            # mails hold addresses and personal links: the owner's alone (0700, files 0600)
            self.outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise TemporaryFailure(f"cannot create the outbox {self.outbox}: {exc}") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def send(self, msg: OutgoingMessage) -> None:
        """Write ``msg`` to the outbox; raise ServerUnavailable if the disk refuses (the run
        halts with its rows queued, as when an SMTP relay cannot be reached)."""
        target = self.outbox / eml_name(msg.message_id)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with os.fdopen(
                os.open(temp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600), "wb"
            ) as handle:
                handle.write(msg.data)
                if self.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):  # a read-only folder refuses the unlink too
                temp.unlink(missing_ok=True)
            # The outbox itself refuses (read-only, full): every message would; halt the run
            raise ServerUnavailable(f"cannot write {target}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------------- smtp


class _RateLimiter:
    """Spaces events at least ``1/rate`` seconds apart, across every connection."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Connection:
    """One slot of the pool: its open session, if any."""

    __slots__ = ("wire",)

    def __init__(self) -> None:
        self.wire: Wire | None = None


class SmtpTransport:
    """Delivers over SMTP through a pool of persistent connections.

    ``concurrency`` connections are opened lazily (aiosmtplib: connect, STARTTLS, EHLO,
    AUTH) and reused for many messages; ``send`` may be awaited by that many tasks at
    once. Each message uses what the server's EHLO offers: ``PIPELINING`` (MAIL, RCPT and
    DATA in one write), ``8BITMIME`` (``BODY=8BITMIME`` for 8bit messages; without it an
    8bit message goes quoted-printable) and ``SMTPUTF8`` (needed by an address whose
    local part is not ASCII, and only with ``[mail.smtp] smtputf8 = true``). Retries (4xx,
    drops, timeouts) back off exponentially from ``backoff`` seconds with +/-50 % jitter,
    capped at ``max_backoff``.
    """

    idempotent = False

    def __init__(
        self,
        smtp: SmtpSettings,
        *,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.smtp = smtp
        self.concurrency = smtp.connections
        self.local_hostname = local_hostname or _local_hostname()
        self.tls_context = tls_context
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._rng = rng or random.Random()
        self._limiter = _RateLimiter(smtp.rate)
        self._idle: asyncio.Queue[_Connection] | None = None
        self._connections: list[_Connection] = []

    @property
    def where(self) -> str:
        """``host:port`` of the relay, for messages."""
        return f"{self.smtp.host}:{self.smtp.port}"

    @property
    def extensions(self) -> Extensions | None:
        """What the server offered on an open connection (None before the first)."""
        for connection in self._connections:
            if connection.wire is not None:
                return connection.wire.extensions
        return None

    async def __aenter__(self) -> Self:
        self._idle = asyncio.Queue()
        self._connections = [_Connection() for _ in range(self.concurrency)]
        for connection in self._connections:
            self._idle.put_nowait(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(c.wire.quit() for c in self._connections if c.wire is not None))
        self._connections = []
        self._idle = None

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.smtp.host,
            port=self.smtp.port,
            local_hostname=self.local_hostname,
            timeout=self.smtp.timeout,
            use_tls=self.smtp.tls == "implicit",
            start_tls=self.smtp.tls == "starttls",
            tls_context=self.tls_context,
        )

    async def send(self, msg: OutgoingMessage) -> None:
        """Deliver ``msg`` over one pooled connection, retrying temporary failures.

        Raises:
            TemporaryFailure: still failing after ``retries`` retries.
            ServerUnavailable: no attempt could even connect.
            PermanentFailure: a 5xx reply, or an address the session cannot carry.
            UncertainDelivery: connection lost between the data and the final reply.
        """
        if self._idle is None:
            raise RuntimeError("use the SMTP transport inside `async with`")
        connection = await self._idle.get()
        try:
            await self._send_with_retries(connection, msg)
        finally:
            self._idle.put_nowait(connection)

    async def _send_with_retries(self, connection: _Connection, msg: OutgoingMessage) -> None:
        try:
            envelope = _Envelope(msg, self.smtp.smtputf8)
        except Attempt as failed:
            raise PermanentFailure(
                f"cannot send to {msg.recipient}: {failed.reason}", bounce=failed.bounce
            ) from None
        failures: list[Attempt] = []
        for attempt in range(self.smtp.retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt))
            try:
                await self._limiter.wait()
                await self._attempt(connection, envelope)
                return
            except Attempt as failed:
                failures.append(failed)
                if failed.kind is AttemptKind.PERMANENT:
                    raise PermanentFailure(
                        f"{self.where} refused {msg.recipient}: {failed.reason}",
                        bounce=failed.bounce,
                    ) from None
                if failed.kind is AttemptKind.UNCERTAIN:
                    raise UncertainDelivery(
                        f"{self.where} dropped the connection after the message to "
                        f"{msg.recipient} was sent, before its reply ({failed.reason})"
                    ) from None
        last = failures[-1].reason
        if all(f.kind is AttemptKind.CONNECT for f in failures):
            raise ServerUnavailable(f"cannot connect to the SMTP server {self.where}: {last}")
        raise TemporaryFailure(
            f"{self.where} did not accept the message to {msg.recipient} after "
            f"{len(failures)} attempts: {last}"
        )

    def _delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return float(base * self._rng.uniform(0.5, 1.5))

    async def _attempt(self, connection: _Connection, envelope: _Envelope) -> None:
        wire = await self._open(connection)
        mail, payload = envelope.for_session(wire.extensions)
        await transact(wire, mail, envelope.rcpt, payload)

    async def _open(self, connection: _Connection) -> Wire:
        """The connection's session, opened (or reopened) with aiosmtplib when needed."""
        if connection.wire is not None and connection.wire.is_open:
            return connection.wire
        connection.wire = None
        client = self._new_client()
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if self.smtp.username:
                # Our own login, not connect()'s: a refusal then drops the connection
                # at once instead of waiting for a TLS goodbye.
                password = self.smtp.password.get_secret_value() if self.smtp.password else ""
                await client.login(self.smtp.username, password)
            extensions = Extensions.from_ehlo(client.esmtp_extensions)
            transport = client.transport
            if transport is None:
                raise Lost("connection closed during the session's setup")
            connection.wire = Wire.take_over(transport, extensions, self.smtp.timeout)
        except aiosmtplib.SMTPAuthenticationError as exc:
            _abandon(client)
            reason = f"login as {self.smtp.username!r} refused: {exc}"
            raise Attempt(AttemptKind.PERMANENT, reason) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError, Lost) as exc:
            _abandon(client)
            raise Attempt(AttemptKind.CONNECT, describe(exc)) from None
        return connection.wire


class _Envelope:
    """One message's envelope and payload, prepared once for every attempt."""

    __slots__ = ("_framed", "_mail", "msg", "rcpt", "smtputf8", "utf8")

    def __init__(self, msg: OutgoingMessage, smtputf8: bool) -> None:
        self.msg = msg
        self.smtputf8 = smtputf8
        self.utf8 = not (msg.sender.isascii() and msg.recipient.isascii())
        self._mail = mailbox_path(msg.sender, bounce=False)
        self.rcpt = mailbox_path(msg.recipient, bounce=True)
        self._framed: dict[bool, bytes] = {}
        if self.utf8 and not smtputf8:  # refused before connecting: it can never go
            raise Attempt(
                AttemptKind.PERMANENT,
                f"the address {self._address()} needs SMTPUTF8, "
                "which is off ([mail.smtp] smtputf8 = false)",
            )

    def _address(self) -> str:
        return self.msg.recipient if not self.msg.recipient.isascii() else self.msg.sender

    def for_session(self, extensions: Extensions) -> tuple[bytes, bytes]:
        """The MAIL FROM argument and the framed payload for a server offering
        ``extensions``."""
        params = b""
        if self.utf8:
            if not extensions.smtputf8:
                raise Attempt(
                    AttemptKind.PERMANENT,
                    f"the server does not offer SMTPUTF8, needed for {self._address()}",
                )
            params = b" SMTPUTF8"
        eight = not self.msg.data.isascii()
        convert = eight and not extensions.eightbitmime and not self.utf8
        if eight and extensions.eightbitmime:
            params += b" BODY=8BITMIME"
        framed = self._framed.get(convert)
        if framed is None:
            msg = self.msg
            data = (
                (msg.seven_bit() if msg.seven_bit else seven_bit(msg.data)) if convert else msg.data
            )
            framed = self._framed[convert] = frame(data)
        return self._mail + params, framed


def _abandon(client: aiosmtplib.SMTP) -> None:
    """Drop a half-open aiosmtplib session at once (no TLS goodbye)."""
    if client.transport is not None:
        cast(asyncio.WriteTransport, client.transport).abort()
    client.close()


def _local_hostname() -> str:
    """The name we give in EHLO: this host's name when it is a valid one, else localhost."""
    name = socket.gethostname()
    return name if re.fullmatch(r"[A-Za-z0-9.-]+", name or "") else "localhost"


def make_transport(mail: MailSettings, outbox: Path) -> FileTransport | SmtpTransport:
    """The transport ``[mail] transport`` names: ``file`` or ``smtp``.

    Args:
        mail: ``[mail]``; its ``smtp`` table configures the SMTP transport.
        outbox: the file transport's folder, already resolved (``[mail] outbox``).
    """
    if mail.transport == "smtp":
        return SmtpTransport(mail.smtp)
    return FileTransport(outbox)
