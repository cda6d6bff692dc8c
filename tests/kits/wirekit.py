"""aiosmtpd servers that speak (or refuse) the extensions the SMTP transport uses.

:class:`ScriptedHandler` offers ``PIPELINING`` (smtpkit's ``Recorder.pipelining``), notes
whether each ``MAIL`` arrived together with its ``RCPT`` and ``DATA`` (one write), and
plays a script of faults, one per transaction, at every stage of a message: ``MAIL``,
``RCPT``, the ``DATA`` command, the end of the data, and connections dropped before or
after the data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import ClassVar

from aiosmtpd.smtp import SMTP, Envelope, Session
from smtpkit import Recorder, drop_connection, waiting

__all__ = ["FATES", "ScriptedHandler"]

FATES = (
    "ok",
    "MAIL 451",
    "MAIL 550",
    "MAIL 421",  # then the server hangs up
    "RCPT 451",
    "RCPT 550",
    "DATA 451",
    "DATA 554",
    "end 451",
    "end 554",
    "drop at MAIL",
    "drop at DATA",  # on the DATA command: before the message data
    "drop after data",  # the data arrived; no final reply
)


class _ScriptedSMTP(SMTP):
    """aiosmtpd's protocol with a hook on the DATA command (it has none of its own)."""

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        if isinstance(handler, ScriptedHandler) and self.session is not None:
            fate = handler.fate(self.session)
            if fate == "drop at DATA":
                handler._fate.pop(id(self.session), None)
                drop_connection(self)
                return
            if fate.startswith("DATA ") and self.envelope is not None and self.envelope.rcpt_tos:
                handler._fate.pop(id(self.session), None)
                await self.push(_reply(fate))
                return
        await super().smtp_DATA(arg)


@dataclass
class ScriptedHandler(Recorder):
    """A :class:`Recorder` that plays ``script`` (fates from :data:`FATES`), one per
    transaction in arrival order, then ``ok``; smtpkit's :class:`SmtpServer` serves it
    with a protocol that hooks the DATA command.

    Attributes:
        pipelining: advertise ``PIPELINING`` in the EHLO reply (True here).
        grouped: per transaction, True when ``RCPT`` and ``DATA`` had arrived with ``MAIL``.
        mail_options: the parameters of each ``MAIL FROM``.
        options_by_rcpt: the ``MAIL FROM`` parameters of each accepted recipient.
    """

    protocol: ClassVar[type[SMTP]] = _ScriptedSMTP
    script: list[str] = field(default_factory=list)
    pipelining: bool = True
    grouped: list[bool] = field(default_factory=list)
    mail_options: list[tuple[str, ...]] = field(default_factory=list)
    options_by_rcpt: dict[str, tuple[str, ...]] = field(default_factory=dict)
    played: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._fate: dict[int, str] = {}

    def fate(self, session: Session) -> str:
        return self._fate.get(id(session), "ok")

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        behind = waiting(server)
        with self.lock:
            fate = self.script.pop(0) if self.script else "ok"
            self.played.append(fate)
            self.grouped.append(behind.upper().startswith(b"RCPT TO:") and b"\nDATA\r\n" in behind)
            self.mail_options.append(tuple(options))
        self._fate[id(session)] = fate
        if fate == "drop at MAIL":
            drop_connection(server)
            return "421 4.4.2 dropped"
        if fate == "MAIL 421":
            asyncio.get_running_loop().call_later(0.01, drop_connection, server)
            return "421 4.3.2 shutting down"
        if fate.startswith("MAIL "):
            return _reply(fate)
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fate = self.fate(session)
        if fate.startswith("RCPT "):
            return _reply(fate)
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.options_by_rcpt[rcpt] = tuple(envelope.mail_options)
        fate = self._fate.pop(id(session), "ok")
        if fate == "drop after data":
            self.record(envelope)  # a real server may have queued it
            drop_connection(server)
            return "250 2.0.0 never seen by the client"
        if fate.startswith("end "):
            return _reply(fate)
        return await super().handle_DATA(server, session, envelope)


def _reply(fate: str) -> str:
    code = fate.split()[1]
    return f"{code} {code[0]}.0.0 scripted refusal"
