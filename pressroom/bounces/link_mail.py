"""The mail that answers a mailto unsubscribe without a valid token: one button.

Anyone can write to the unsubscribe address with any ``From:``, so such a request changes
nothing by itself. When its ``From:`` is a subscriber's address, that address (not the
sender, who may be someone else) gets one mail with a signed one-click unsubscribe link,
at most once a day (:mod:`pressroom.bounces.apply` decides): the owner who wrote is
honoured with one click, and a forger makes the owner receive one mail a day at most,
which changes nothing unless the owner uses it.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid
from pathlib import Path

from pressroom.config import MailSettings
from pressroom.delivery.mime import one_line
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.single import send_one
from pressroom.digest.links import LinkMaker
from pressroom.models import Subscriber

__all__ = ["LinkMail", "build_link_mail", "send_link_mail"]


@dataclass(frozen=True, slots=True)
class LinkMail:
    """What the answer needs: the site's name, ``[mail]``, the outbox and the link base.

    Attributes:
        site_name: ``[site] name``.
        mail: ``[mail]`` (sender, transport).
        outbox: the file transport's folder, resolved.
        public_url: ``[web] public_url`` (ends in ``/``).
    """

    site_name: str
    mail: MailSettings
    outbox: Path
    public_url: str


def build_link_mail(
    link: LinkMail, secret: str, subscriber: Subscriber, now: datetime
) -> OutgoingMessage:
    """The mail to ``subscriber``'s address with its signed unsubscribe link as a button."""
    url = LinkMaker(secret, link.public_url, now).link("unsubscribe", subscriber.public_key)
    site = one_line(link.site_name)
    subject = f"退订{site}要闻邮件"
    text = (
        f"我们收到了一封退订{site}要闻邮件的信，寄信人写的是这个地址。\n"
        "若确是您本人，请打开下面的链接并点击“退订”按钮：\n\n"
        f"{url}\n\n"
        "若不是您，请忽略本邮件：您的订阅不会有任何改变。\n"
    )
    body = (
        f"<p>我们收到了一封退订{html.escape(site)}要闻邮件的信，寄信人写的是这个地址。</p>"
        f'<p><a href="{html.escape(url)}" style="display:inline-block;padding:10px 20px;'
        'background:#b00000;color:#ffffff;text-decoration:none;border-radius:4px">退订</a></p>'
        "<p>若不是您，请忽略本邮件：您的订阅不会有任何改变。</p>"
    )
    mail = link.mail
    local, _, domain = mail.from_address.rpartition("@")
    sender = Address(display_name=one_line(mail.from_name or site), username=local, domain=domain)
    message_id = make_msgid(idstring="unsubscribe", domain=domain or None)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = subscriber.email
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: an answer; no auto-reply to it
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(
        f'<!DOCTYPE html><html lang="zh"><body>{body}</body></html>',
        subtype="html",
        charset="utf-8",
        cte="quoted-printable",
    )
    return OutgoingMessage(
        sender=mail.return_path or mail.from_address,
        recipient=subscriber.email,
        data=msg.as_bytes(policy=SMTP if subscriber.email.isascii() else SMTPUTF8),
        message_id=message_id,
    )


def send_link_mail(link: LinkMail, secret: str, subscriber: Subscriber, now: datetime) -> None:
    """Build and send the mail (a thread of its own: the caller may run in an event loop's
    worker thread, never in the loop itself).

    Raises:
        DeliveryError: the transport refused or could not reach the relay.
    """
    asyncio.run(send_one(link.mail, link.outbox, build_link_mail(link, secret, subscriber, now)))
