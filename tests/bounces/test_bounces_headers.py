"""What outgoing mail carries for bounce handling: VERP senders, the tokenised mailto,
Precedence and Auto-Submitted, on digests and confirmation mails; no VERP in previews."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import support
from digestkit import SECTIONS, SITE, parse_message
from jinja2 import Environment, PackageLoader
from support import NOW, SECRET

from pressroom.delivery.verp import Purpose, TokenCheck, VerpRef, find_token, read_token
from pressroom.digest.compose import Composer, RunIdentity
from pressroom.digest.render import RunInfo
from pressroom.digest.select import ContentCache
from pressroom.models import Article, Frequency, Priority, Subscriber, SubscriberStatus
from pressroom.store.subscribers import new_public_key
from pressroom.subscribers.confirm_mail import build_confirm_message
from pressroom.subscribers.lifecycle import MailKind
from pressroom.wiring import digest_config

VERP = {
    "return_path": "bounces@news.example.cn",
    "unsubscribe_mailto": "unsubscribe@news.example.cn",
}
READER = Subscriber(7, "reader@example.com", "王读者", SubscriberStatus.ACTIVE, Frequency.DAILY,
                    public_key=new_public_key())  # fmt: skip


def _settings(folder: Path, **mail: object):  # type: ignore[no-untyped-def]
    return support.make_settings(folder, site=SITE["site"], web=SITE["web"],
                                 mail={**SITE["mail"], **mail})  # fmt: skip


def _composer(folder: Path, digest_id: int | str, **mail: object) -> Composer:
    config = digest_config(_settings(folder, **mail))
    when = NOW - timedelta(hours=1)
    article = Article(1, "https://www.example.cn/news/1.html", "news", "要闻", "摘要", "", "",
                      None, when, when, 100, Priority.HEADLINE)  # fmt: skip
    contents = ContentCache([article], SECTIONS, config.rules.max_items)
    info = RunInfo(Frequency.DAILY, NOW - timedelta(days=1), NOW, config.zone)
    return Composer(config, contents, RunIdentity(digest_id, "daily", "2026-11-29", NOW), info)


def test_a_run_message_names_its_delivery_in_sender_and_mailto(tmp_path: Path) -> None:
    msg = _composer(tmp_path, 42, **VERP)(READER)
    sender_token = find_token(VERP["return_path"], msg.sender)
    assert sender_token is not None and len(msg.sender.split("@")[0]) <= 64
    assert read_token(SECRET, Purpose.BOUNCE, sender_token) == (TokenCheck.VALID, VerpRef(7, 42))
    parsed = parse_message(msg.data)
    mailto = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", parsed["List-Unsubscribe"])
    assert mailto is not None
    token = find_token(VERP["unsubscribe_mailto"], mailto.group(1))
    assert token is not None
    assert read_token(SECRET, Purpose.UNSUBSCRIBE, token) == (TokenCheck.VALID, VerpRef(7, 42))
    assert parsed["Precedence"] == "bulk" and parsed["Auto-Submitted"] == "auto-generated"


def test_each_recipient_gets_their_own_tokens(tmp_path: Path) -> None:
    composer = _composer(tmp_path, 42, **VERP)
    other = Subscriber(8, "other@example.com", "", SubscriberStatus.ACTIVE, Frequency.DAILY,
                       public_key=new_public_key())  # fmt: skip
    first, second = composer(READER), composer(other)
    assert first.sender != second.sender
    assert (
        parse_message(first.data)["List-Unsubscribe"]
        != parse_message(second.data)["List-Unsubscribe"]
    )


@pytest.mark.parametrize("digest_id", ["test-ab12", "preview"])
def test_unrecorded_messages_use_the_plain_addresses(tmp_path: Path, digest_id: str) -> None:
    msg = _composer(tmp_path, digest_id, **VERP)(READER)
    assert msg.sender == VERP["return_path"]
    assert (
        "<mailto:unsubscribe@news.example.cn?subject=unsubscribe>"
        in parse_message(msg.data)["List-Unsubscribe"]
    )


def test_without_return_path_nothing_changes(tmp_path: Path) -> None:
    msg = _composer(tmp_path, 42)(READER)
    assert msg.sender == SITE["mail"]["from_address"]  # type: ignore[index]
    assert parse_message(msg.data)["Precedence"] == "bulk"


def _confirm(tmp_path: Path, subscriber: Subscriber, secret: str | None,  # type: ignore[no-untyped-def]
             kind: MailKind = MailKind.CONFIRM):  # fmt: skip
    settings = _settings(tmp_path, **VERP)
    env = Environment(loader=PackageLoader("pressroom", "templates"), autoescape=True)
    return build_confirm_message(
        env, subscriber, kind=kind, link_url="https://news.example.cn/confirm/x",
        site=settings.site, mail=settings.mail, max_age=86400, now=NOW, secret=secret,
    )  # fmt: skip


def test_confirmation_mail_has_a_verp_sender_and_no_auto_replies(tmp_path: Path) -> None:
    pending = Subscriber(9, "new@example.com", "", SubscriberStatus.PENDING, Frequency.DAILY)
    msg = _confirm(tmp_path, pending, SECRET)
    token = find_token(VERP["return_path"], msg.sender)
    assert token is not None
    assert read_token(SECRET, Purpose.BOUNCE, token) == (TokenCheck.VALID, VerpRef(9, None))
    parsed = parse_message(msg.data)
    assert parsed["Precedence"] == "bulk" and parsed["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    "status", [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED, SubscriberStatus.UNSUBSCRIBED]
)
def test_a_suppressed_address_gets_only_the_confirmation_it_asked_for(
    tmp_path: Path, status: SubscriberStatus
) -> None:
    """A new double opt-in is the only way back (issue 10), so its confirmation is sent;
    no other mail of this module (the notice) ever goes to a suppressed address."""
    suppressed = Subscriber(9, "gone@example.com", "", status, Frequency.DAILY)
    assert _confirm(tmp_path, suppressed, SECRET).recipient == "gone@example.com"
    with pytest.raises(ValueError, match="no mail is sent"):
        _confirm(tmp_path, suppressed, SECRET, MailKind.NOTICE)
