"""The double opt-in mail: a confirmation link, or a notice to an already active address.

Built with :mod:`email` (policy SMTP: CRLF, encoded UTF-8 headers) as
``multipart/alternative`` with a plain-text and an HTML part.

The mail greets the address's local part (``reader7，您好``), never the name typed in the
form: the form is anyone's, the mail goes to someone else's mailbox under the site's
name, so no visitor-chosen text appears in it. The name shows only after confirmation.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from jinja2 import Environment

from pressroom.config import MailSettings, SiteSettings
from pressroom.delivery.mime import one_line
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.verp import Purpose, VerpRef, make_token, verp_address
from pressroom.models import Subscriber
from pressroom.subscribers.lifecycle import MailKind

__all__ = ["build_confirm_message", "greeting_name"]

_SUBJECTS: dict[MailKind, str] = {
    MailKind.CONFIRM: "请确认订阅{site}要闻邮件",
    MailKind.NOTICE: "您已订阅{site}要闻邮件",
}


def greeting_name(email: str) -> str:
    """Whom the mail greets: the local part of the address it is sent to."""
    return one_line(email.rpartition("@")[0])


def _sender(site: SiteSettings, mail: MailSettings) -> Address:
    display = one_line(mail.from_name or site.name)
    local, _, domain = mail.from_address.rpartition("@")
    return Address(display_name=display, username=local, domain=domain)


def build_confirm_message(
    env: Environment,
    subscriber: Subscriber,
    *,
    kind: MailKind,
    link_url: str,
    site: SiteSettings,
    mail: MailSettings,
    max_age: int,
    now: datetime,
    secret: str | None = None,
) -> OutgoingMessage:
    """Render the confirmation (``MailKind.CONFIRM``) or notice mail for ``subscriber``.

    Args:
        env: the template environment (``email/confirm.txt`` and ``email/confirm.html``).
        subscriber: the recipient.
        kind: which mail.
        link_url: the signed confirm link, or the preferences link for a notice.
        site: ``[site]``: the name, address and language the mail shows.
        mail: ``[mail]``: the sender and reply-to.
        max_age: how long the confirm link stays valid, in seconds.
        now: the mail's date.
        secret: ``[web] secret``; with ``[mail] return_path`` the envelope sender is then
            the VERP address naming this confirmation (bounces find the subscriber).

    Raises:
        ValueError: a notice for an unsubscribed, bounced or complained subscriber. Their
            own new request still gets its confirmation: confirming it is the only way
            back (a new double opt-in), and the per-address rate limit bounds abuse.
    """
    if subscriber.status.suppressed and kind is not MailKind.CONFIRM:
        raise ValueError(f"{subscriber.email}: {subscriber.status}, so no mail is sent to it")
    subject = _SUBJECTS[kind].format(site=one_line(site.name))
    context = {
        "kind": kind.value,
        "name": greeting_name(subscriber.email),
        "link_url": link_url,
        "site_name": site.name,
        "site_url": site.base_url,
        "language": site.language,
        "subject": subject,
        "max_age_days": max(1, max_age // 86400),
    }
    text = env.get_template("email/confirm.txt").render(context)
    html = env.get_template("email/confirm.html").render(context)
    sender = _sender(site, mail)
    message_id = make_msgid(idstring=kind.value, domain=sender.domain or None)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = subscriber.email
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    msg["Precedence"] = "bulk"
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return OutgoingMessage(
        sender=_envelope_sender(mail, subscriber, secret),
        recipient=subscriber.email,
        data=msg.as_bytes(policy=SMTP),
        message_id=message_id,
    )


def _envelope_sender(mail: MailSettings, subscriber: Subscriber, secret: str | None) -> str:
    if mail.return_path is None:
        return mail.from_address
    if secret is None:
        return mail.return_path
    token = make_token(secret, Purpose.BOUNCE, VerpRef(subscriber.id, None))
    return verp_address(mail.return_path, token)
