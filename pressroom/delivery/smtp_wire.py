"""SMTP on the wire, below :class:`~pressroom.delivery.transport.SmtpTransport`.

aiosmtplib does the protocol; these helpers do what it does not do the way a delivery
ledger needs: say *where* a failure happened (before the message data, or after it), keep
address parsing cheap and strict, and close broken connections at once.
"""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum

import aiosmtplib

__all__ = [
    "Attempt",
    "AttemptKind",
    "abandon",
    "command",
    "describe",
    "frame",
    "mailbox_path",
    "quit_politely",
    "reply_error",
    "reset",
    "send_data",
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


def reply_error(stage: str, exc: aiosmtplib.SMTPResponseException) -> Attempt:
    """Classify a refusal at ``stage``: 5xx permanent (a bounce at RCPT or DATA end)."""
    reason = f"{stage}: {exc.code} {exc.message}".strip()
    if 500 <= exc.code < 600:
        return Attempt(AttemptKind.PERMANENT, reason, bounce=stage in ("RCPT", "DATA end"))
    return Attempt(AttemptKind.TEMPORARY, reason)


_MAILBOX = re.compile(r"[^\x00-\x20\x7f<>()\[\]\\,;:\"]+@[A-Za-z0-9.-]+")


def mailbox_path(address: str, *, bounce: bool) -> bytes:
    """``<address>`` for MAIL/RCPT. aiosmtplib's ``mail()``/``rcpt()`` parse the address
    with :mod:`email.utils` (0.3 ms each, 10 % of a send); ours are normalised already,
    so a strict check is enough (no CR/LF or brackets can reach the command line)."""
    if not _MAILBOX.fullmatch(address):
        reason = f"not a deliverable address: {address!r}"
        raise Attempt(AttemptKind.PERMANENT, reason, bounce=bounce)
    if not address.isascii():  # would need SMTPUTF8 (RFC 6531), which we do not speak
        reason = f"non-ASCII address needs SMTPUTF8: {address!r}"
        raise Attempt(AttemptKind.PERMANENT, reason, bounce=False)
    return b"<" + address.encode("ascii") + b">"


async def command(
    client: aiosmtplib.SMTP, verb: bytes, argument: bytes, accept: tuple[int, ...]
) -> None:
    """Send ``verb argument``; raise SMTPResponseException unless the code is in ``accept``."""
    reply = await client.execute_command(verb, argument)
    if reply.code not in accept:
        raise aiosmtplib.SMTPResponseException(reply.code, reply.message)


async def send_data(client: aiosmtplib.SMTP, payload: bytes, timeout: float) -> None:
    """Write the framed message and await the final reply.

    aiosmtplib's ``data()`` does DATA, the 354 and the payload in one call, so a lost
    connection cannot be placed before or after the payload; we split it to know
    whether the message may have been accepted (RFC 5321 6.1: the final reply is the
    moment responsibility passes). One task uses a connection at a time, so the
    protocol's command lock is not needed here.
    """
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("connection lost before the message data")
    protocol.write(payload)
    reply = await protocol.read_response(timeout=timeout)
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)


async def reset(client: aiosmtplib.SMTP, code: int) -> None:
    """After a refused command: RSET to clear the envelope, or drop a closing session."""
    if code == 421 or not client.is_connected:
        abandon(client)
        return
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        abandon(client)


async def quit_politely(client: aiosmtplib.SMTP) -> None:
    """Say QUIT, then wait (briefly) until the socket is really closed: a TLS close
    needs a few more round trips, and leaving before them leaks the socket."""
    if not client.is_connected:
        return
    protocol, transport = client.protocol, client.transport
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        abandon(client)
        return
    for _ in range(50):
        if protocol is None or protocol.transport is None:
            return
        await asyncio.sleep(0.01)
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()


def abandon(client: aiosmtplib.SMTP) -> None:
    """Drop a broken connection at once (abort: no TLS goodbye that needs the loop)."""
    if isinstance(client.transport, asyncio.WriteTransport):
        client.transport.abort()
    client.close()


def describe(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
