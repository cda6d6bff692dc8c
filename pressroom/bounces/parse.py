"""One inbound message -> what it is and whose delivery it concerns (no store, no I/O).

The order, most authoritative first:

1. an ARF report (RFC 5965, ``multipart/report; report-type=feedback-report``):
   ``Feedback-Type: abuse`` is a complaint, any other type is kept as unknown;
2. a DSN (RFC 3464, ``report-type=delivery-status``): ``Action: failed`` with a 5.x.x
   status is a hard bounce, a 4.x.x status or ``Action: delayed`` a soft one (``final``
   only when the MTA gave up: ``Action: failed``);
3. mail to the ``List-Unsubscribe`` mailto address: an unsubscribe request;
4. a vacation or out-of-office reply (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``,
   the usual subjects), unless it comes from a mailer daemon;
5. a non-standard bounce (Exchange, Gmail, qmail, ...) that one of flufl.bounce's
   detectors recognises (GNU Mailman's): permanent failures hard, temporary ones soft
   (never final: nothing says the MTA gave up);
6. anything else: unknown.

Whose delivery: a signed VERP token of the purpose of the door the message came to.
A mail to the ``List-Unsubscribe`` address is read only for an unsubscribe token of the
address it was delivered to. Every report (DSN, ARF, anything else) is read only for a
bounce token, never an unsubscribe one: of the address it was delivered to
(``Delivered-To``, ``X-Original-To``, ``To``), of the DSN's ``Original-Envelope-Id`` or
``X-Postfix-Sender``, or of the returned original's ``Return-Path``; a complaint only of
the returned original (the report's own envelope is the feedback loop's, not ours). A
token that does not verify (another secret, tampered) makes the message unknown with a
note, whatever it claims: a forged bounce changes nothing. With no token at all, the
address the report names (``Final-Recipient``, ``Original-Rcpt-To``, the address
flufl.bounce found) is kept for the caller, who uses it only for a token-less
unsubscribe request or when ``[bounces] address_fallback`` is on.

Every text taken from the message is checked as imports check theirs (:func:`checked`):
a NUL, a lone surrogate, a control character or an over-long value makes the message
:class:`Unparseable`, set aside before it reaches the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from flufl.bounce import all_failures

from pressroom.delivery.verp import Purpose, TokenCheck, VerpRef, find_token, read_token
from pressroom.incoming import text_problem
from pressroom.models import BounceKind

__all__ = ["Addresses", "Inbound", "Unparseable", "checked", "message_key", "read_message"]

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|auto:|out of (the )?office|autoreply|vacation|"
    r"abwesenheit|absence|自动回复|自動回覆|不在)",
    re.IGNORECASE,
)
_DAEMONS = ("mailer-daemon", "postmaster", "mailerdaemon", "mail-daemon")
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_DIAGNOSTIC_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_OUR_MESSAGE_ID = re.compile(r"<([a-z2-7]{20}\.[a-z2-7]{16})\.", re.IGNORECASE)
_MAX_CHARS = {"message_id": 998, "recipient": 320, "status_code": 16, "diagnostic": 1000,
              "note": 2000}  # fmt: skip


class Unparseable(ValueError):
    """The bytes are not a mail message (empty, no header at all), or a value taken from
    it cannot be stored (a NUL, a lone surrogate, a control character, too long)."""


@dataclass(frozen=True, slots=True)
class Addresses:
    """The addresses whose ``+<token>`` forms pressroom hands out, and the secret."""

    secret: str
    return_path: str | None  # [mail] return_path: bounces come here
    unsubscribe_mailto: str | None  # [mail] unsubscribe_mailto: mailto unsubscribes


@dataclass(frozen=True, slots=True)
class Inbound:
    """What one inbound message is.

    Attributes:
        message_key: :func:`message_key` of the bytes: the same message seen twice, same key.
        message_id: the Message-ID header as given ("" when missing).
        received_at: its Date header, if readable (sender-controlled: shown, never counted on).
        kind: hard, soft, complaint, unsubscribe, auto-reply or unknown.
        final: a soft bounce whose MTA gave up (``Action: failed`` with 4.x.x); only those
            count towards ``[bounces] soft_limit``.
        status_code: the DSN's status (``5.1.1``) or one found in a non-standard bounce.
        diagnostic: the reason the report gives, shortened.
        recipient: the address the report names (used only when there is no token).
        ref: the delivery a verified token names.
        token: what the token check found; None when there was no token.
        note: why nothing can be applied, or what was unusual.
    """

    message_key: str
    message_id: str
    received_at: datetime | None
    kind: BounceKind
    status_code: str | None = None
    diagnostic: str = ""
    recipient: str | None = None
    ref: VerpRef | None = None
    token: TokenCheck | None = None
    note: str = ""
    final: bool = False


def message_key(message_id: str, data: bytes) -> str:
    """SHA-256 of the Message-ID and of the raw bytes: a resent copy is seen as such, and a
    different report that reuses a Message-ID is not taken for it."""
    raw = hashlib.sha256(data).hexdigest()
    return hashlib.sha256(f"{message_id}\n{raw}".encode("utf-8", "replace")).hexdigest()


def checked(inbound: Inbound) -> Inbound:
    """``inbound`` if every text in it can be stored and shown.

    Raises:
        Unparseable: a value holds a NUL, a lone surrogate or a control character, or is
            longer than the store keeps.
    """
    for name, limit in _MAX_CHARS.items():
        value = getattr(inbound, name) or ""
        problem = text_problem(value)
        if problem is None and _CONTROL.search(value):
            problem = "contains a control character"
        if problem is None and len(value) > limit:
            problem = f"is longer than {limit} characters"
        if problem is not None:
            raise Unparseable(f"its {name.replace('_', ' ')} {problem}")
    return inbound


def read_message(data: bytes, addresses: Addresses) -> Inbound:
    """Classify ``data`` (a whole message) and find whose delivery it concerns.

    Raises:
        Unparseable: ``data`` is empty or has no header at all, or a value taken from it
            cannot be stored (see :func:`checked`).
    """
    if not data.strip():
        raise Unparseable("empty message")
    msg = message_from_bytes(data, policy=compat32)
    if not msg.keys():
        raise Unparseable("no header lines: not a mail message")
    message_id = _header(msg, "Message-ID")
    base = Inbound(
        message_key=message_key(message_id, data),
        message_id=message_id,
        received_at=_date(msg),
        kind=BounceKind.UNKNOWN,
    )
    classified, door = _classify(msg, base, addresses)
    return checked(_with_token(msg, classified, addresses, door))


# ---------------------------------------------------------------- classification


def _classify(msg: Message, base: Inbound, addresses: Addresses) -> tuple[Inbound, Purpose]:
    report_type = _report_type(msg)
    if report_type == "feedback-report":
        return _feedback_report(msg, base), Purpose.BOUNCE
    if report_type == "delivery-status":
        dsn = _delivery_status(msg, base)
        if dsn is not None:
            return dsn, Purpose.BOUNCE
    if addresses.unsubscribe_mailto and _sent_to(msg, addresses.unsubscribe_mailto):
        sender = parseaddr(_header(msg, "From"))[1] or None
        return replace(base, kind=BounceKind.UNSUBSCRIBE, recipient=sender), Purpose.UNSUBSCRIBE
    auto = _auto_reply(msg)
    if auto and not _from_daemon(msg):
        return replace(base, kind=BounceKind.AUTO_REPLY, diagnostic=auto), Purpose.BOUNCE
    failure = _nonstandard_bounce(msg, base)
    if failure is not None:
        return failure, Purpose.BOUNCE
    if auto:
        return replace(base, kind=BounceKind.AUTO_REPLY, diagnostic=auto), Purpose.BOUNCE
    subject = _header(msg, "Subject")[:120]
    return replace(base, diagnostic=f"subject: {subject}" if subject else ""), Purpose.BOUNCE


def _report_type(msg: Message) -> str:
    """``multipart/report``'s ``report-type`` (lower case), or "" for any other message."""
    if msg.get_content_type() != "multipart/report":
        return ""
    value = msg.get_param("report-type", header="content-type")
    return value.lower() if isinstance(value, str) else ""


def _feedback_report(msg: Message, base: Inbound) -> Inbound:
    fields = _report_fields(msg, "message/feedback-report")
    first = fields[0] if fields else Message()
    feedback_type = _header(first, "Feedback-Type").lower()
    recipient = _address(_header(first, "Original-Rcpt-To") or _header(first, "Removal-Recipient"))
    kind = BounceKind.COMPLAINT if feedback_type == "abuse" else BounceKind.UNKNOWN
    note = "" if kind is BounceKind.COMPLAINT else f"feedback report of type {feedback_type!r}"
    diagnostic = " ".join(
        part
        for part in (f"Feedback-Type: {feedback_type}", _header(first, "User-Agent"))
        if part.strip()
    )
    return replace(base, kind=kind, recipient=recipient, diagnostic=diagnostic, note=note)


def _delivery_status(msg: Message, base: Inbound) -> Inbound | None:
    recipients = [b for b in _report_fields(msg, "message/delivery-status") if b.get("Action")]
    chosen = next(
        (b for b in recipients if _header(b, "Action").lower() in ("failed", "delayed")), None
    )
    if chosen is None:
        action = _header(recipients[0], "Action").lower() if recipients else ""
        note = f"delivery report with action {action!r}" if action else "empty delivery report"
        return replace(base, note=note)
    action = _header(chosen, "Action").lower()
    status = _status(_header(chosen, "Status"))
    soft = action == "delayed" or (status is not None and status.startswith("4"))
    final = soft and action == "failed"
    diagnostic = _header(chosen, "Diagnostic-Code") or _header(chosen, "X-Postfix-Diagnostic")
    return replace(
        base,
        kind=BounceKind.SOFT if soft else BounceKind.HARD,
        status_code=status,
        diagnostic=_short(diagnostic or f"Action: {action}"),
        recipient=_address(_header(chosen, "Final-Recipient")),
        final=final,
        note="" if final or not soft else f"Action: {action}: the mail is still being retried",
    )


def _nonstandard_bounce(msg: Message, base: Inbound) -> Inbound | None:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector tripping over odd input is "not recognised", not fatal
        return None
    found = sorted(permanent) or sorted(temporary)
    if not found:
        return None
    recipient = found[0].decode("ascii", "replace")
    status, line = _status_in_body(msg)
    hard = bool(permanent) and not (status or "").startswith("4")
    return replace(
        base,
        kind=BounceKind.HARD if hard else BounceKind.SOFT,
        status_code=status,
        diagnostic=_short(line),
        recipient=_address(recipient),
        note="non-standard bounce" if hard else "non-standard temporary failure: never counted",
    )


def _auto_reply(msg: Message) -> str:
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if msg.get(name) is not None:
            return f"{name}: {_header(msg, name)}"
    if _header(msg, "Precedence").lower() == "auto_reply":
        return "Precedence: auto_reply"
    subject = _header(msg, "Subject")
    if _AUTO_SUBJECT.match(subject):
        return f"subject: {subject[:120]}"
    return ""


def _from_daemon(msg: Message) -> bool:
    name, address = parseaddr(_header(msg, "From"))
    return address.lower().split("@")[0] in _DAEMONS or "mail delivery" in name.lower()


# ---------------------------------------------------------------- tokens


def _with_token(msg: Message, found: Inbound, addresses: Addresses, door: Purpose) -> Inbound:
    for token in _candidate_tokens(msg, addresses, door, found.kind):
        check, ref = read_token(addresses.secret, door, token)
        if check is TokenCheck.VALID:
            return replace(found, ref=ref, token=check)
        return replace(
            found,
            kind=BounceKind.UNKNOWN,
            token=check,
            note=f"refused: {check} {door} token (the message claimed: {found.kind})",
        )
    return found


def _candidate_tokens(
    msg: Message, addresses: Addresses, door: Purpose, kind: BounceKind
) -> Iterator[str]:
    """The tokens of ``door``'s purpose where a message of ``kind`` may carry them."""
    base = addresses.unsubscribe_mailto if door is Purpose.UNSUBSCRIBE else addresses.return_path
    if not base:
        return
    if kind is not BounceKind.COMPLAINT:
        yield from _tokens_of(_addresses_in(msg, _ENVELOPE_HEADERS), base)
    if door is Purpose.UNSUBSCRIBE:
        return
    if kind is not BounceKind.COMPLAINT:
        for block in _report_fields(msg, "message/delivery-status")[:1]:
            envid = _header(block, "Original-Envelope-Id")
            if envid:
                yield envid
            yield from _tokens_of(_addresses_in(block, ("X-Postfix-Sender",)), base)
    original = _original_headers(msg)
    if original is not None:
        yield from _tokens_of(_addresses_in(original, ("Return-Path",)), base)
        # our digests' Message-ID starts with the delivery's bounce token: a complaint that
        # quotes the Message-ID alone (no Return-Path) is still traced, and still verified
        ours = _OUR_MESSAGE_ID.match(_header(original, "Message-ID").strip())
        if ours is not None:
            yield ours.group(1)


def _tokens_of(addresses: Iterator[str], base: str) -> Iterator[str]:
    for address in addresses:
        token = find_token(base, address)
        if token is not None:
            yield token


def _sent_to(msg: Message, base: str) -> bool:
    """True when ``msg`` was delivered to ``base`` itself or to one of its ``+token`` forms."""
    return any(
        address.lower() == base.lower() or find_token(base, address) is not None
        for address in _addresses_in(msg, _ENVELOPE_HEADERS)
    )


# ---------------------------------------------------------------- MIME helpers


def _report_fields(msg: Message, content_type: str) -> list[Message]:
    """The header blocks of a report part (compat32 parses message/* bodies as messages)."""
    for part in msg.walk():
        if part.get_content_type() != content_type:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return [p for p in payload if isinstance(p, Message)]
        if isinstance(payload, str):  # not parsed as headers: parse the text ourselves
            return [
                message_from_bytes(b.encode() + b"\n", policy=compat32) for b in _blocks(payload)
            ]
    return []


def _blocks(text: str) -> list[str]:
    return [b.strip() for b in re.split(r"\r?\n\s*\r?\n", text) if b.strip()]


def _original_headers(msg: Message) -> Message | None:
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if content_type == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return message_from_bytes(raw, policy=compat32)
    return None


def _status_in_body(msg: Message) -> tuple[str | None, str]:
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        for line in raw.decode("utf-8", "replace").splitlines():
            match = _STATUS.search(line)
            if match:
                return match.group(0), line.strip()
        break
    return None, ""


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    text = str(value)
    # compat32 keeps raw 8-bit header bytes as lone surrogates: read them as UTF-8 (a
    # surrogate that is no escaped byte stays, for checked() to refuse)
    with contextlib.suppress(UnicodeEncodeError):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _addresses_in(msg: Message, names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        for value in msg.get_all(name) or []:
            for _, address in getaddresses([str(value)]):
                if address:
                    yield address


def _address(value: str) -> str | None:
    """An address from ``rfc822; x@y``, ``<x@y>`` or ``x@y``; None if there is none."""
    value = value.split(";", 1)[1] if ";" in value else value
    address = parseaddr(value.strip())[1]
    return address if "@" in address else None


def _status(value: str) -> str | None:
    match = _STATUS.search(value)
    return None if match is None else match.group(0)


def _date(msg: Message) -> datetime | None:
    value = _header(msg, "Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DIAGNOSTIC_CHARS else text[: _DIAGNOSTIC_CHARS - 1] + "…"
