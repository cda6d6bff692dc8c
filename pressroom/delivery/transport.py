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
from typing import Protocol, Self

import aiosmtplib

from pressroom.config import MailSettings, SmtpSettings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.smtp_wire import (
    Attempt,
    AttemptKind,
    abandon,
    command,
    describe,
    frame,
    mailbox_path,
    quit_politely,
    reply_error,
    reset,
    send_data,
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
            self.outbox.mkdir(parents=True, exist_ok=True)
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
            with open(temp, "wb") as handle:
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


class SmtpTransport:
    """Delivers over SMTP through a pool of persistent aiosmtplib connections.

    ``concurrency`` connections are opened lazily and reused for many messages; ``send``
    may be awaited by that many tasks at once. Retries (4xx, drops, timeouts) back off
    exponentially from ``backoff`` seconds with +/-50 % jitter, capped at ``max_backoff``.
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
        self._idle: asyncio.Queue[aiosmtplib.SMTP] | None = None
        self._clients: list[aiosmtplib.SMTP] = []

    @property
    def where(self) -> str:
        """``host:port`` of the relay, for messages."""
        return f"{self.smtp.host}:{self.smtp.port}"

    async def __aenter__(self) -> Self:
        self._idle = asyncio.Queue()
        self._clients = [self._new_client() for _ in range(self.concurrency)]
        for client in self._clients:
            self._idle.put_nowait(client)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(quit_politely(c) for c in self._clients))
        self._clients = []
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
            PermanentFailure: a 5xx reply.
            UncertainDelivery: connection lost between the data and the final reply.
        """
        if self._idle is None:
            raise RuntimeError("use the SMTP transport inside `async with`")
        client = await self._idle.get()
        try:
            await self._send_with_retries(client, msg)
        finally:
            self._idle.put_nowait(client)

    async def _send_with_retries(self, client: aiosmtplib.SMTP, msg: OutgoingMessage) -> None:
        payload = frame(msg.data)
        failures: list[Attempt] = []
        for attempt in range(self.smtp.retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt))
            try:
                await self._limiter.wait()
                await self._attempt(client, msg, payload)
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

    async def _attempt(self, client: aiosmtplib.SMTP, msg: OutgoingMessage, payload: bytes) -> None:
        sender, recipient = (
            mailbox_path(msg.sender, bounce=False),
            mailbox_path(msg.recipient, bounce=True),
        )
        await self._ensure_connected(client)
        stage = "MAIL"
        try:
            await command(client, b"MAIL", b"FROM:" + sender, (250,))
            stage = "RCPT"
            await command(client, b"RCPT", b"TO:" + recipient, (250, 251))
            stage = "DATA"
            reply = await client.execute_command(b"DATA")
            if reply.code != 354:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
            stage = "DATA end"
            await send_data(client, payload, self.smtp.timeout)
        except aiosmtplib.SMTPResponseException as exc:
            await reset(client, exc.code)
            raise reply_error(stage, exc) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            abandon(client)
            kind = AttemptKind.UNCERTAIN if stage == "DATA end" else AttemptKind.TEMPORARY
            raise Attempt(kind, f"{stage}: {describe(exc)}") from None

    async def _ensure_connected(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            return
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if self.smtp.username:
                # Our own login, not connect()'s: a refusal then drops the connection
                # at once instead of waiting for a TLS goodbye.
                password = self.smtp.password.get_secret_value() if self.smtp.password else ""
                await client.login(self.smtp.username, password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            abandon(client)
            reason = f"login as {self.smtp.username!r} refused: {exc}"
            raise Attempt(AttemptKind.PERMANENT, reason) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            abandon(client)
            raise Attempt(AttemptKind.CONNECT, describe(exc)) from None


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
