"""One inbound message -> what it is and whose delivery it concerns (no store, no I/O).

The order, most authoritative first:

1. an ARF report (RFC 5965, ``multipart/report; report-type=feedback-report``):
   ``Feedback-Type: abuse`` is a complaint, any other type is kept as unknown;
2. a DSN (RFC 3464, ``report-type=delivery-status``): ``Action: failed`` with a 5.x.x
   status is a hard bounce, a 4.x.x status or ``Action: delayed`` a soft one;
3. mail to the ``List-Unsubscribe`` mailto address: an unsubscribe request;
4. a vacation or out-of-office reply (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``,
   the usual subjects), unless it comes from a mailer daemon;
5. a non-standard bounce (Exchange, Gmail, qmail, ...) that one of flufl.bounce's
   detectors recognises (GNU Mailman's): permanent failures hard, temporary ones soft;
6. anything else: unknown.

Whose delivery: the signed VERP token of the address the message was delivered to
(``Delivered-To``, ``X-Original-To``, ``To``), else of the DSN's ``Original-Envelope-Id``
or ``X-Postfix-Sender``, else of the returned original's ``Return-Path`` or
``List-Unsubscribe``. A token that does not verify (another secret, tampered) makes the
message unknown with a note, whatever it claims: a forged bounce changes nothing. With no
token at all, the address the report names (``Final-Recipient``, ``Original-Rcpt-To``,
the address flufl.bounce found) is kept for the caller to look up.
"""

from __future__ import annotations

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
from pressroom.models import BounceKind

__all__ = ["Addresses", "Inbound", "Unparseable", "read_message"]

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|auto:|out of (the )?office|autoreply|vacation|"
    r"abwesenheit|absence|自动回复|自動回覆|不在)",
    re.IGNORECASE,
)
_DAEMONS = ("mailer-daemon", "postmaster", "mailerdaemon", "mail-daemon")
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_DIAGNOSTIC_CHARS = 500


class Unparseable(ValueError):
    """The bytes are not a mail message (empty, no header at all)."""


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
        message_key: SHA-256 of the Message-ID (of the bytes without one): seen twice, same key.
        message_id: the Message-ID header as given ("" when missing).
        received_at: its Date header, if readable.
        kind: hard, soft, complaint, unsubscribe, auto-reply or unknown.
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


def read_message(data: bytes, addresses: Addresses) -> Inbound:
    """Classify ``data`` (a whole message) and find whose delivery it concerns.

    Raises:
        Unparseable: ``data`` is empty or has no header at all.
    """
    if not data.strip():
        raise Unparseable("empty message")
    msg = message_from_bytes(data, policy=compat32)
    if not msg.keys():
        raise Unparseable("no header lines: not a mail message")
    message_id = _header(msg, "Message-ID")
    key_source = message_id.encode("utf-8", "replace") if message_id else data
    base = Inbound(
        message_key=hashlib.sha256(key_source).hexdigest(),
        message_id=message_id,
        received_at=_date(msg),
        kind=BounceKind.UNKNOWN,
    )
    classified, purpose_hint = _classify(msg, base, addresses)
    return _with_token(msg, classified, addresses, purpose_hint)


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
    diagnostic = _header(chosen, "Diagnostic-Code") or _header(chosen, "X-Postfix-Diagnostic")
    return replace(
        base,
        kind=BounceKind.SOFT if soft else BounceKind.HARD,
        status_code=status,
        diagnostic=_short(diagnostic or f"Action: {action}"),
        recipient=_address(_header(chosen, "Final-Recipient")),
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
        note="non-standard bounce",
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


def _with_token(msg: Message, found: Inbound, addresses: Addresses, hint: Purpose) -> Inbound:
    for purpose, token in _candidate_tokens(msg, addresses, hint):
        check, ref = read_token(addresses.secret, purpose, token)
        if check is TokenCheck.VALID:
            return replace(found, ref=ref, token=check)
        return replace(
            found,
            kind=BounceKind.UNKNOWN,
            token=check,
            note=f"refused: {check} {purpose} token (the message claimed: {found.kind})",
        )
    return found


def _candidate_tokens(
    msg: Message, addresses: Addresses, hint: Purpose
) -> Iterator[tuple[Purpose, str]]:
    bases = [
        (purpose, base)
        for purpose, base in (
            (Purpose.UNSUBSCRIBE, addresses.unsubscribe_mailto),
            (Purpose.BOUNCE, addresses.return_path),
        )
        if base
    ]
    bases.sort(key=lambda pair: pair[0] is not hint)
    for value in _addresses_in(msg, _ENVELOPE_HEADERS):
        yield from _tokens_of(value, bases)
    for block in _report_fields(msg, "message/delivery-status")[:1]:
        envid = _header(block, "Original-Envelope-Id")
        if envid and addresses.return_path:
            yield Purpose.BOUNCE, envid
        for value in _addresses_in(block, ("X-Postfix-Sender",)):
            yield from _tokens_of(value, bases)
    original = _original_headers(msg)
    if original is not None:
        for value in _addresses_in(original, ("Return-Path",)):
            yield from _tokens_of(value, bases)
        for mailto in re.findall(r"<mailto:([^>?]+)", _header(original, "List-Unsubscribe")):
            yield from _tokens_of(mailto, bases)


def _tokens_of(address: str, bases: list[tuple[Purpose, str]]) -> Iterator[tuple[Purpose, str]]:
    for purpose, base in bases:
        token = find_token(base, address)
        if token is not None:
            yield purpose, token


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
    return "" if value is None else " ".join(str(value).split())


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
