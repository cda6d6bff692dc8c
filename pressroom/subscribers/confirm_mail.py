"""The double opt-in mail: a confirmation link, or a notice to an already active address.

Built with :mod:`email` (policy SMTP: CRLF, encoded UTF-8 headers) as
``multipart/alternative`` with a plain-text and an HTML part.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from jinja2 import Environment

from pressroom.config import Settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.models import Subscriber
from pressroom.subscribers.lifecycle import MailKind

__all__ = ["build_confirm_message"]

_SUBJECTS: dict[str, str] = {
    "confirm": "请确认订阅{site}要闻邮件",
    "notice": "您已订阅{site}要闻邮件",
}


def _one_line(text: str) -> str:
    """Header-safe: CR, LF and other control characters become spaces."""
    return " ".join("".join(" " if ord(c) < 0x20 or c == "\x7f" else c for c in text).split())


def _sender(settings: Settings) -> Address:
    display = _one_line(settings.mail.from_name or settings.site.name)
    local, _, domain = settings.mail.from_address.rpartition("@")
    return Address(display_name=display, username=local, domain=domain)


def build_confirm_message(
    settings: Settings,
    env: Environment,
    subscriber: Subscriber,
    *,
    kind: MailKind,
    link_url: str,
    now: datetime,
) -> OutgoingMessage:
    """Render the confirmation (``kind="confirm"``) or notice mail for ``subscriber``.

    ``link_url`` is the signed confirm link, or the preferences link for a notice.
    """
    site = settings.site.name
    subject = _SUBJECTS[kind].format(site=_one_line(site))
    context = {
        "kind": kind,
        "name": _one_line(subscriber.name),
        "link_url": link_url,
        "site_name": site,
        "site_url": settings.site.base_url,
        "language": settings.site.language,
        "subject": subject,
        "max_age_days": max(1, settings.web.confirm_max_age // 86400),
    }
    text = env.get_template("email/confirm.txt").render(context)
    html = env.get_template("email/confirm.html").render(context)
    sender = _sender(settings)
    message_id = make_msgid(idstring=kind, domain=sender.domain or None)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = subscriber.email
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    if settings.mail.reply_to:
        msg["Reply-To"] = settings.mail.reply_to
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return OutgoingMessage(
        sender=settings.mail.from_address,
        recipient=subscriber.email,
        data=msg.as_bytes(policy=SMTP),
        message_id=message_id,
    )
