"""SMTP on the wire, below :class:`~pressroom.delivery.transport.SmtpTransport`.

aiosmtplib opens the session (connect, STARTTLS, EHLO, AUTH); then a :class:`Wire` takes
the socket over and carries the messages. aiosmtplib's protocol reads one reply per
command it awaits and drops replies that arrive while none is awaited, so it cannot
pipeline (RFC 2920), and it cannot say whether a connection was lost before or after the
message data. A :class:`Wire` parses every reply into a queue in arrival order, so
replies to pipelined commands are read in order and each is attributed to its command;
:func:`transact` sends one message, pipelined when the server offers ``PIPELINING`` and in
lock-step otherwise, and classifies a failure the way a delivery ledger needs (before the
data: temporary or permanent; after the data, without a reply: uncertain).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

__all__ = [
    "Attempt",
    "AttemptKind",
    "Extensions",
    "Lost",
    "Reply",
    "Wire",
    "describe",
    "frame",
    "mailbox_path",
    "reply_error",
    "transact",
]


class AttemptKind(StrEnum):
    """How one SMTP attempt failed, which decides what the transport does next."""

    TEMPORARY = "temporary"  # a 4xx or a dropped connection before the data: retry
    CONNECT = "connect"  # no session could be opened: retry; all of them so = unavailable
    PERMANENT = "permanent"  # a 5xx: give up on this message
    UNCERTAIN = "uncertain"  # lost after the data, before the reply: never resend


class Attempt(Exception):
    """Raised by one failed SMTP attempt, classified by ``kind``."""

    def __init__(self, kind: AttemptKind, reason: str, *, bounce: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.bounce = bounce


class Lost(Exception):
    """Raised when the connection is gone, or a reply did not come within the timeout."""


@dataclass(frozen=True, slots=True)
class Extensions:
    """What the server's EHLO reply offers that the sender uses."""

    pipelining: bool = False
    eightbitmime: bool = False
    smtputf8: bool = False

    @classmethod
    def from_ehlo(cls, keywords: Mapping[str, str]) -> Extensions:
        """From aiosmtplib's ``esmtp_extensions`` (lower-case keywords)."""
        names = {k.lower() for k in keywords}
        return cls("pipelining" in names, "8bitmime" in names, "smtputf8" in names)


@dataclass(frozen=True, slots=True)
class Reply:
    """One server reply: its code and its lines' text (without the codes)."""

    code: int
    lines: tuple[bytes, ...]

    @property
    def text(self) -> str:
        """The reply's text on one line."""
        return " ".join(line[4:].strip().decode("utf-8", "replace") for line in self.lines)


_MAX_REPLY = 64 * 1024  # a reply longer than this is not SMTP; drop the connection


class Wire(asyncio.Protocol):
    """An open SMTP session's socket: writes commands, queues replies in order.

    Made by :meth:`take_over` once aiosmtplib has opened the session; from then on
    aiosmtplib's client is not used for this connection.
    """

    def __init__(self, extensions: Extensions, timeout: float) -> None:
        self.extensions = extensions
        self.timeout = timeout
        self.transport: asyncio.WriteTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._partial: list[bytes] = []  # the lines of a multi-line reply so far
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: str | None = None
        self._closed: asyncio.Future[None] = self._loop.create_future()

    @classmethod
    def take_over(
        cls, transport: asyncio.BaseTransport, extensions: Extensions, timeout: float
    ) -> Wire:
        """Make the :class:`Wire` the protocol of ``transport`` (TCP or TLS; uvloop's
        transports have the same methods without deriving from asyncio's classes)."""
        wire = cls(extensions, timeout)
        wire.transport = cast(asyncio.WriteTransport, transport)
        transport.set_protocol(wire)
        if transport.is_closing():
            wire._lost = "connection closed during the session's setup"
        return wire

    @property
    def is_open(self) -> bool:
        """True while the connection can carry commands."""
        return self._lost is None and self.transport is not None and not self.transport.is_closing()

    # ------------------------------------------------------------ asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        added = False
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            if not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
                self._fail(f"malformed reply line {line[:80]!r}")
                return
            if line[3:4] == b"-":
                self._partial.append(line)
                continue
            self._replies.append(Reply(int(line[:3]), (*self._partial, line)))
            self._partial = []
            added = True
        if len(buffer) + sum(map(len, self._partial)) > _MAX_REPLY:
            self._fail("reply too long")
            return
        if added:
            self._wake()

    def eof_received(self) -> bool:
        self._lost = self._lost or "the server closed the connection"
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = self._lost or (describe(exc) if exc else "the server closed the connection")
        self.transport = None
        self._wake()
        if not self._closed.done():
            self._closed.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, reason: str) -> None:
        self._lost = reason
        self.abort()
        self._wake()

    # ------------------------------------------------------------ commands

    def write(self, data: bytes) -> None:
        """Send ``data`` as is; raise :class:`Lost` when the connection is gone."""
        transport = self.transport
        if self._lost is not None or transport is None or transport.is_closing():
            raise Lost(self._lost or "connection lost")
        transport.write(data)

    async def reply(self) -> Reply:
        """The next reply, in the order the server sent them.

        Raises:
            Lost: the connection closed, or no reply came within :attr:`timeout`.
        """
        if self._replies:
            return self._replies.popleft()
        if self._lost is not None:
            raise Lost(self._lost)
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self.timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:  # _expire
            raise Lost(f"no reply within {self.timeout:g} s") from None
        finally:
            timer.cancel()
            self._waiter = None
        if self._replies:
            return self._replies.popleft()
        raise Lost(self._lost or "connection lost")

    async def command(self, line: bytes) -> Reply:
        """Send one command line (CRLF added) and read its reply."""
        self.write(line + b"\r\n")
        return await self.reply()

    def abort(self) -> None:
        """Drop the connection at once (no TLS goodbye that needs the loop)."""
        self._lost = self._lost or "connection dropped"
        if self.transport is not None:
            self.transport.abort()

    async def reset(self, code: int) -> None:
        """After a refusal: RSET to clear the envelope, or drop a closing session (421)."""
        if code == 421 or not self.is_open:
            self.abort()
            return
        try:
            reply = await self.command(b"RSET")
        except Lost:
            self.abort()
            return
        if reply.code != 250:
            self.abort()

    async def quit(self) -> None:
        """Say QUIT, then wait (briefly) for the socket to close: a TLS close needs a few
        more round trips, and leaving before them leaks the socket."""
        if not self.is_open:
            self.abort()
            return
        try:
            await self.command(b"QUIT")
        except Lost:
            self.abort()
            return
        transport = self.transport
        if transport is not None:
            transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), 0.5)
        except TimeoutError:
            self.abort()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


# ---------------------------------------------------------------------------- messages


_LINE_END = re.compile(rb"\r\n|\r|\n")


def frame(data: bytes) -> bytes:
    """The DATA payload: CRLF line endings, leading dots doubled (RFC 5321 4.5.2), ``.``."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:  # counts are C-fast; a regex
        data = _LINE_END.sub(b"\r\n", data)  # over 20 KB cost 1 ms a message
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


def reply_error(stage: str, reply: Reply) -> Attempt:
    """Classify a refusal at ``stage``: 5xx permanent (a bounce at RCPT or DATA end)."""
    reason = f"{stage}: {reply.code} {reply.text}".strip()
    if 500 <= reply.code < 600:
        return Attempt(AttemptKind.PERMANENT, reason, bounce=stage in ("RCPT", "DATA end"))
    return Attempt(AttemptKind.TEMPORARY, reason)


_MAILBOX = re.compile(r"[^\x00-\x20\x7f<>()\[\]\\,;:\"]+@[A-Za-z0-9.-]+")


def mailbox_path(address: str, *, bounce: bool) -> bytes:
    """``<address>`` for MAIL/RCPT, UTF-8 when the local part is (SMTPUTF8, RFC 6531).

    aiosmtplib's ``mail()``/``rcpt()`` parse the address with :mod:`email.utils` (0.3 ms
    each, 10 % of a send); ours are normalised already (the domain in its ASCII form), so
    a strict check is enough: no CR/LF, blank or bracket can reach the command line.
    """
    if not _MAILBOX.fullmatch(address):
        reason = f"not a deliverable address: {address!r}"
        raise Attempt(AttemptKind.PERMANENT, reason, bounce=bounce)
    return b"<" + address.encode("utf-8") + b">"


async def transact(wire: Wire, mail: bytes, rcpt: bytes, payload: bytes) -> None:
    """Send one message over an open session: ``MAIL FROM:<mail>``, ``RCPT TO:<rcpt>``,
    ``DATA`` and ``payload`` (framed by :func:`frame`).

    With ``PIPELINING`` the three commands go in one write and their replies are read in
    order (RFC 2920 3.1); the first refusal among them is the one reported, and when the
    server answered ``DATA`` with 354 all the same, a lone ``.`` ends an empty message
    that has no recipient. Without it, one command at a time.

    Args:
        wire: the session.
        mail: the MAIL FROM argument after ``FROM:`` (path and parameters).
        rcpt: the RCPT TO argument after ``TO:``.
        payload: the framed message.

    Raises:
        Attempt: refused (temporary or permanent, by the reply's code), lost before the
            data (temporary), or lost after the data before the final reply (uncertain).
    """
    stage = "MAIL"
    try:
        if wire.extensions.pipelining:
            await _pipelined_envelope(wire, mail, rcpt)
        else:
            for stage, line, accept in (
                ("MAIL", b"MAIL FROM:" + mail, 250),
                ("RCPT", b"RCPT TO:" + rcpt, 250),
                ("DATA", b"DATA", 354),
            ):
                reply = await wire.command(line)
                if reply.code != accept and not (stage == "RCPT" and reply.code == 251):
                    await wire.reset(reply.code)
                    raise reply_error(stage, reply)
        stage = "DATA"
        wire.write(payload)
        stage = "DATA end"  # from here on the server may have the message
        reply = await wire.reply()
    except Lost as exc:
        wire.abort()
        kind = AttemptKind.UNCERTAIN if stage == "DATA end" else AttemptKind.TEMPORARY
        raise Attempt(kind, f"{stage}: {exc}") from None
    if reply.code != 250:
        await wire.reset(reply.code)
        raise reply_error("DATA end", reply)


async def _pipelined_envelope(wire: Wire, mail: bytes, rcpt: bytes) -> None:
    """MAIL, RCPT and DATA in one write; raises the first refusal, or Lost."""
    wire.write(b"MAIL FROM:" + mail + b"\r\nRCPT TO:" + rcpt + b"\r\nDATA\r\n")
    refusal: tuple[str, Reply] | None = None
    reply: Reply | None = None
    for stage, accept in (("MAIL", (250,)), ("RCPT", (250, 251)), ("DATA", (354,))):
        try:
            reply = await wire.reply()
        except Lost as exc:
            wire.abort()
            if refusal is None:
                raise Attempt(AttemptKind.TEMPORARY, f"{stage}: {exc}") from None
            raise reply_error(*refusal) from None  # e.g. a 421 at MAIL, then a hang-up
        if reply.code not in accept and refusal is None:
            refusal = (stage, reply)
    if refusal is None:
        return
    try:
        if reply is not None and reply.code == 354:  # DATA accepted without a recipient
            wire.write(b".\r\n")
            await wire.reply()
    except Lost:
        wire.abort()
    await wire.reset(refusal[1].code)
    raise reply_error(*refusal)


def describe(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
