"""Digest messages: built once per distinct content, filled in per recipient.

A :class:`MessageTemplate` is a whole message (headers and both bodies, 8bit UTF-8, CRLF)
with *slots* where per-recipient values go: the To header, the Message-ID, the
unsubscribe and preferences links, the greeting and the address in the bodies.
:meth:`MessageTemplate.fill` joins the fixed byte segments with the values, a few
microseconds a message, instead of rendering and serialising each message (milliseconds).
For a relay without 8BITMIME, a second template per content holds the same message with
quoted-printable bodies (built on first need); only the per-recipient values are encoded
per message (``OutgoingMessage.seven_bit``).

Headers (RFC 5322, RFC 2369, RFC 8058): From with the site's name, To, Subject (RFC 2047), Date,
Message-ID deterministic per (run, subscriber) and naming neither id, List-Id,
List-Unsubscribe (an https link with a signed token, and a mailto), List-Unsubscribe-Post,
``Precedence: bulk`` and ``Auto-Submitted: auto-generated`` (RFC 3834: vacation responders
stay quiet), MIME multipart/alternative. With ``[mail] return_path`` a recorded run's
envelope sender is the VERP address naming the delivery, and with ``[mail]
unsubscribe_mailto`` the mailto is ``unsubscribe+<token>@domain``
(:mod:`pressroom.delivery.verp`).
"""

from __future__ import annotations

import base64
import hmac
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import partial

from pressroom.delivery.mime import (
    encode_words,
    fold_body,
    format_address,
    one_line,
    qp_around_marks,
    qp_value,
)
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.signing import Signer, make_signer
from pressroom.delivery.verp import Purpose, VerpRef, make_token, verp_address
from pressroom.digest.archive import page_url
from pressroom.digest.config import DigestConfig
from pressroom.digest.labels import window_name
from pressroom.digest.links import LinkMaker
from pressroom.digest.plan import Plan
from pressroom.digest.render import RenderedDigest, Renderer, RunInfo
from pressroom.digest.select import ContentCache, DigestContent
from pressroom.digest.text_wrap import MAX_COLUMNS, display_width
from pressroom.errors import ConfigError
from pressroom.models import Subscriber

__all__ = ["Composer", "MessageTemplate", "RunIdentity", "make_composer"]

_NAME_CHARS = 64
_NAME_COLUMNS = MAX_COLUMNS - display_width("，您好：")
_ROOM = {"greeting_html": 320, "greeting_text": 220, "email_html": 400, "email_text": 400}
"""The most bytes each per-recipient body value may take (lines are folded to fit)."""
_BODY_SLOTS = (*_ROOM, "unsubscribe_url", "preferences_url")
"""The slots inside the bodies: quoted-printable in a message's 7bit form."""


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """Who a run is: the parts of its Message-IDs and its Date header."""

    digest_id: int | str  # the run's id; a word such as "preview" or "test" when unrecorded
    schedule: str
    period: str
    date: datetime


class MessageTemplate:
    """A message's bytes split around named slots."""

    __slots__ = ("_parts", "_positions", "slots")

    def __init__(self, data: bytes, marks: Mapping[str, str]) -> None:
        names = {mark.encode("ascii"): name for name, mark in marks.items()}
        pattern = re.compile(b"(" + b"|".join(re.escape(m) for m in names) + b")")
        pieces = pattern.split(data)  # literal, mark, literal, mark, ..., literal
        self._parts = pieces
        self._positions = [(i, names[pieces[i]]) for i in range(1, len(pieces), 2)]
        self.slots = frozenset(name for _, name in self._positions)

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """The message with every slot replaced by ``values[slot]``."""
        parts = self._parts.copy()
        for index, name in self._positions:
            parts[index] = values[name]
        return b"".join(parts)


def _slot_marks(nonce: str) -> dict[str, str]:
    fields = ("to", "message_id", "unsubscribe_url", "preferences_url", "mailto")
    marks = {f: f"PRS{nonce}{f}X" for f in fields}
    for field in ("greeting", "email"):
        marks[f"{field}_html"] = f"PRH{nonce}{field}X"
        marks[f"{field}_text"] = f"PRT{nonce}{field}X"
    return marks


class Composer:
    """Makes the :class:`OutgoingMessage` of each subscriber for one run.

    Args:
        config: the site, mail, link and DKIM settings.
        contents: the run's contents per section choice.
        run: the run's identity (Message-IDs, Date).
        info: what the renderer needs to know about the run.
        renderer: a renderer (a new one by default).

    Raises:
        ConfigError: the DKIM key cannot be read.
    """

    def __init__(
        self,
        config: DigestConfig,
        contents: ContentCache,
        run: RunIdentity,
        info: RunInfo,
        renderer: Renderer | None = None,
    ) -> None:
        self._config = config
        self._links = LinkMaker(config.secret, config.public_url, run.date)
        self._contents = contents
        self._run = run
        self._info = info
        self._renderer = renderer or Renderer(config)
        self._nonce = secrets.token_hex(6)
        self._slots = _slot_marks(self._nonce)
        self._templates: dict[tuple[int, ...], MessageTemplate] = {}
        self._templates_7bit: dict[tuple[int, ...], MessageTemplate] = {}
        self._qp_slots = {f"{name}_qp": f"PRQ{self._nonce}{name}X" for name in _BODY_SLOTS}
        self._rendered: dict[tuple[int, ...], RenderedDigest] = {}
        self._signer: Signer | None = make_signer(config.dkim)
        self._domain = config.mail.from_address.rsplit("@", 1)[1]
        self._fixed_headers = self._common_headers()
        url_room = len(config.public_url) + 160  # "preferences/" + a token
        rooms = {**_ROOM, "unsubscribe_url": url_room, "preferences_url": url_room}
        self._room = {self._slots[name]: size for name, size in rooms.items()}

    def content_for(self, subscriber: Subscriber) -> DigestContent:
        """What ``subscriber`` gets (empty when nothing matches their sections)."""
        return self._contents.for_subscriber(subscriber)

    def rendered_for(self, subscriber: Subscriber) -> RenderedDigest:
        """The rendering ``subscriber``'s content shares (recipient values still marks)."""
        content = self.content_for(subscriber)
        if content.key not in self._rendered:
            self._rendered[content.key] = self._renderer.render(content, self._info)
        return self._rendered[content.key]

    def personal_view(self, subscriber: Subscriber) -> RenderedDigest:
        """``subscriber``'s subject, HTML and text with their own values (for previews)."""
        rendered = self.rendered_for(subscriber)
        values = self._values(subscriber, self.message_id(subscriber))
        marks = self._renderer.marks
        html_body, text_body = rendered.html, rendered.text
        for field in ("greeting", "email"):
            html_body = html_body.replace(marks[field], values[f"{field}_html"].decode())
            text_body = text_body.replace(marks[field], values[f"{field}_text"].decode())
        for field in ("unsubscribe_url", "preferences_url"):
            html_body = html_body.replace(marks[field], values[field].decode())
            text_body = text_body.replace(marks[field], values[field].decode())
        return RenderedDigest(rendered.subject, html_body, text_body)

    def __call__(self, subscriber: Subscriber) -> OutgoingMessage:
        """Compose ``subscriber``'s message.

        Raises:
            ValueError: ``subscriber`` has nothing to receive (no article in their sections).
        """
        content = self.content_for(subscriber)
        if not content:
            raise ValueError(f"{subscriber.email}: no article in the chosen sections")
        template = self._templates.get(content.key)
        if template is None:
            template = self._build(self.rendered_for(subscriber))
            self._templates[content.key] = template
        message_id = self.message_id(subscriber)
        values = self._values(subscriber, message_id)
        data = template.fill(values)
        if self._signer is not None:
            data = self._signer(data)
        return OutgoingMessage(
            sender=self.envelope_sender(subscriber),
            recipient=subscriber.email,
            data=data,
            message_id=message_id,
            seven_bit=partial(self._seven_bit, content.key, values),
        )

    def _seven_bit(self, key: tuple[int, ...], values: dict[str, bytes]) -> bytes:
        """The message of ``values`` with quoted-printable bodies (a relay without
        8BITMIME): the template encoded once per content, only the values per message."""
        template = self._templates_7bit.get(key)
        if template is None:
            template = self._templates_7bit[key] = self._build(self._rendered[key], qp=True)
        encoded = {f"{name}_qp": qp_value(values[name]) for name in _BODY_SLOTS}
        data = template.fill({**values, **encoded})
        return self._signer(data) if self._signer is not None else data

    def message_id(self, subscriber: Subscriber) -> str:
        """``<key.schedule.period@domain>``: the same for every retry, and naming no id.

        ``key`` is the delivery's bounce token (opaque, signed: a complaint that quotes the
        Message-ID alone is still traced to its delivery) for a recorded run, and 16
        characters of an HMAC of the run's word and the subscriber for a preview or test.
        """
        run = self._run
        ref = self._verp_ref(subscriber)
        if ref is not None:
            key = make_token(self._config.secret, Purpose.BOUNCE, ref)
        else:
            mac = hmac.digest(
                self._config.secret.encode("utf-8"),
                f"message-id:{run.digest_id}:{subscriber.id}".encode(),
                "sha256",
            )
            key = base64.b32encode(mac[:10]).decode("ascii").lower()
        return f"<{key}.{run.schedule}.{run.period}@{self._domain}>"

    def envelope_sender(self, subscriber: Subscriber) -> str:
        """``[mail] return_path`` + the VERP token of this delivery (recorded runs only)."""
        mail = self._config.mail
        ref = self._verp_ref(subscriber)
        if mail.return_path is None:
            return mail.from_address
        if ref is None:  # previews and test copies: no delivery to name
            return mail.return_path
        token = make_token(self._config.secret, Purpose.BOUNCE, ref)
        return verp_address(mail.return_path, token)

    def unsubscribe_mailto(self, subscriber: Subscriber) -> str:
        """The List-Unsubscribe mailto address: ``[mail] unsubscribe_mailto`` + a token."""
        mail = self._config.mail
        ref = self._verp_ref(subscriber)
        if mail.unsubscribe_mailto is None:
            return mail.from_address
        if ref is None:
            return mail.unsubscribe_mailto
        token = make_token(self._config.secret, Purpose.UNSUBSCRIBE, ref)
        return verp_address(mail.unsubscribe_mailto, token)

    def _verp_ref(self, subscriber: Subscriber) -> VerpRef | None:
        run = self._run.digest_id
        return VerpRef(subscriber.id, run) if isinstance(run, int) else None

    def links(self, subscriber: Subscriber) -> tuple[str, str]:
        """The subscriber's unsubscribe and preferences URLs (signed tokens)."""
        key = subscriber.public_key
        return self._links.link("unsubscribe", key), self._links.link("preferences", key)

    def _values(self, subscriber: Subscriber, message_id: str) -> dict[str, bytes]:
        unsubscribe, preferences = self.links(subscriber)
        name = one_line(subscriber.name)[:_NAME_CHARS]
        while len(html.escape(name).encode("utf-8")) > _ROOM["greeting_html"] - 16:
            name = name[:-1]  # only names full of escaped characters get here
        while display_width(name) > _NAME_COLUMNS:
            name = name[:-1]  # the text part's greeting line stays within 78 columns
        greeting = f"{name}，您好：" if name else "您好："
        if len(html.escape(subscriber.email).encode("utf-8")) > _ROOM["email_html"]:
            raise ValueError(f"{subscriber.email[:40]}...: address too long to mail safely")
        return {
            "to": format_address(name, subscriber.email).encode("utf-8"),
            "message_id": message_id.encode("ascii"),
            "unsubscribe_url": unsubscribe.encode("ascii"),
            "preferences_url": preferences.encode("ascii"),
            "mailto": self.unsubscribe_mailto(subscriber).encode("ascii"),
            "greeting_html": html.escape(greeting).encode("utf-8"),
            "greeting_text": greeting.encode("utf-8"),
            "email_html": html.escape(subscriber.email).encode("utf-8"),
            "email_text": subscriber.email.encode("utf-8"),
        }

    def _common_headers(self) -> list[str]:
        mail = self._config.mail
        from_name = mail.from_name or self._config.site_name
        list_host = f"{self._run.schedule}.digest.{self._domain}"
        headers = [
            f"From: {format_address(from_name, mail.from_address)}",
            f"Date: {format_datetime(self._run.date.astimezone(self._info.zone))}",
            f"List-Id: {encode_words(one_line(self._config.site_name))} <{list_host}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Precedence: bulk",
            "Auto-Submitted: auto-generated",
        ]
        if mail.reply_to:
            headers.append(f"Reply-To: {mail.reply_to}")
        return headers

    def _build(self, rendered: RenderedDigest, *, qp: bool = False) -> MessageTemplate:
        marks = self._renderer.marks
        html_body = rendered.html
        text_body = rendered.text
        for field in ("greeting", "email"):
            html_body = html_body.replace(marks[field], self._slots[f"{field}_html"])
            text_body = text_body.replace(marks[field], self._slots[f"{field}_text"])
        for field in ("unsubscribe_url", "preferences_url"):
            html_body = html_body.replace(marks[field], self._slots[field])
            text_body = text_body.replace(marks[field], self._slots[field])
        try:
            html_bytes = fold_body(html_body, room=self._room)
            text_bytes = fold_body(text_body, room=self._room)
        except ValueError as exc:
            raise ConfigError([f"digest templates: {exc}"]) from exc
        marks = self._slots
        if qp:
            html_bytes, text_bytes = self._qp_body(html_bytes), self._qp_body(text_bytes)
            marks = {**self._slots, **self._qp_slots}
        boundary = _boundary(html_bytes + text_bytes)
        cte = "quoted-printable" if qp else "8bit"
        data = self._headers(rendered.subject, boundary) + _multipart(
            boundary, text_bytes, html_bytes, cte
        )
        return MessageTemplate(data, marks)

    def _qp_body(self, body: bytes) -> bytes:
        """``body`` quoted-printable, its slots renamed to their encoded twins."""
        for name in _BODY_SLOTS:
            body = body.replace(self._slots[name].encode(), self._qp_slots[f"{name}_qp"].encode())
        return qp_around_marks(body, [m.encode() for m in self._qp_slots.values()])

    def _headers(self, subject: str, boundary: str) -> bytes:
        lines = [
            *self._fixed_headers,
            f"To: {self._slots['to']}",
            f"Subject: {encode_words(one_line(subject))}",
            f"Message-ID: {self._slots['message_id']}",
            f"List-Unsubscribe: <{self._slots['unsubscribe_url']}>,\r\n"
            f" <mailto:{self._slots['mailto']}?subject=unsubscribe>",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def make_composer(
    config: DigestConfig, plan: Plan, digest_id: int | str, date: datetime
) -> Composer:
    """The composer of ``plan``'s messages (Message-IDs name ``digest_id``, dated ``date``)."""
    zone = plan.schedule.zone(config.site_timezone)
    run = RunIdentity(digest_id, plan.schedule.name, plan.period, date)
    page = page_url(
        config, plan.schedule.name, window_name(plan.window_start, plan.window_end, zone)
    )
    info = RunInfo(plan.frequency, plan.window_start, plan.window_end, zone, page)
    return Composer(config, plan.contents, run, info)


def _boundary(body: bytes) -> str:
    while True:
        boundary = "=_pr_" + secrets.token_hex(12)
        if boundary.encode("ascii") not in body:
            return boundary


def _part(content_type: str, body: bytes, cte: str) -> bytes:
    head = f"Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n"
    return head.encode("ascii") + b"\r\n" + body + b"\r\n"


def _multipart(boundary: str, text: bytes, html_body: bytes, cte: str) -> bytes:
    delimiter = f"--{boundary}\r\n".encode("ascii")
    closing = f"--{boundary}--\r\n".encode("ascii")
    preamble = b"This is a multi-part message in MIME format.\r\n\r\n"
    return (
        preamble
        + delimiter
        + _part("text/plain", text, cte)
        + delimiter
        + _part("text/html", html_body, cte)
        + closing
    )
