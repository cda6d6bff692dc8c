"""End to end through a real Postfix on 127.0.0.1 (a private instance, loopback only).

A digest goes out over SMTP with VERP envelope senders; Postfix accepts every recipient,
finds the unknown ones unknown and sends real DSNs (RFC 3464) to their VERP addresses,
which it delivers into the bounce Maildir. An ARF complaint, a mailto unsubscribe, a
vacation reply and a forged bounce arrive the same way, each addressed as its real
counterpart would be (taken from the digests Postfix delivered). ``pressroom bounces
process`` then marks exactly the unknown recipients bounced, the complainer complained and
the leaver unsubscribed; the vacation reply and the forgery change nothing; a second run
changes nothing; the next digest skips every suppressed address.
"""

from __future__ import annotations

import email
import re
import smtplib
from datetime import timedelta
from email.message import Message
from pathlib import Path

import pytest
import support
from bouncekit import MAIL
from digestkit import SITE, add_articles, article
from postfixkit import PostfixServer, maildir_messages
from sqlalchemy import select
from storekit import add_subscriber
from support import NOW, FakeClock

from pressroom.cli import main
from pressroom.delivery.verp import Purpose, VerpRef, make_token, verp_address
from pressroom.digest.service import send_digest_blocking
from pressroom.models import BounceKind, JobTrigger, Priority, SubscriberStatus
from pressroom.store.bounces import count_by_kind
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import deliveries, digests, job_runs, subscribers
from pressroom.wiring import digest_config

pytestmark = [pytest.mark.smtp, pytest.mark.external, pytest.mark.slow]

LIVE = ["alive", "angry", "leaver", "away", "victim"]
GHOSTS = ["ghost1", "ghost2", "ghost3"]
BOUNCED, COMPLAINED = SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED
UNSUBSCRIBED, ACTIVE = SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.ACTIVE


def test_the_deliverability_loop_through_postfix(tmp_path: Path) -> None:
    with PostfixServer(mailboxes=["bounces", *LIVE], aliases={"unsubscribe": "bounces"}) as mx:
        inbox = mx.maildir("bounces")
        settings = support.make_settings(
            tmp_path,
            site=SITE["site"],
            web=SITE["web"],
            mail={
                "transport": "smtp", "from_address": "digest@mail.test",
                "return_path": "bounces@mail.test", "unsubscribe_mailto": "unsubscribe@mail.test",
                "smtp": {"host": "127.0.0.1", "port": mx.port, "tls": "none", "timeout": 10},
            },
            bounces={"source": f"maildir:{inbox}"},
        )  # fmt: skip
        config = str(settings.source)
        store = open_store(settings.store_url)
        clock = FakeClock()
        add_articles(store, [article(1, "news", NOW - timedelta(hours=2),
                                     priority=Priority.RECOMMENDED)])  # fmt: skip
        with store.write() as conn:
            ids = {n: add_subscriber(conn, mx.address(n)).id for n in LIVE + GHOSTS}

        first = send_digest_blocking(digest_config(settings), store, clock)
        assert first.ok, first.summary()
        dsns = mx.wait_for(inbox, count=len(GHOSTS))
        assert all(b"report-type=delivery-status" in p.read_bytes() for p in dsns)
        got = {n: _delivered(mx, n) for n in LIVE}
        assert got["alive"]["Precedence"] == "bulk"
        assert got["alive"]["Auto-Submitted"] == "auto-generated"

        # What the world sends back, through the same Postfix into the same Maildir.
        return_path = {n: got[n]["Return-Path"].strip("<>") for n in LIVE}
        assert all(re.fullmatch(r"bounces\+[a-z2-7]{20}\.[a-z2-7]{16}@mail\.test", a)
                   for a in return_path.values())  # fmt: skip
        mailto = {n: _mailto(got[n]) for n in LIVE}
        forged = verp_address("bounces@mail.test", make_token(
            "another-secret-0123456789", Purpose.BOUNCE, VerpRef(ids["victim"], 1)))  # fmt: skip
        _send(
            mx,
            "arf_complaint.eml",
            "",
            "bounces@mail.test",  # a feedback loop's address
            BOUNCE=return_path["angry"],
            RCPT=mx.address("angry"),
            UNSUB=mailto["angry"],
        )
        _send(
            mx,
            "mailto_unsubscribe.eml",
            mx.address("leaver"),
            mailto["leaver"],
            RCPT=mx.address("leaver"),
            UNSUB=mailto["leaver"],
        )
        _send(
            mx,
            "vacation.eml",
            "",
            return_path["away"],
            BOUNCE=return_path["away"],
            RCPT=mx.address("away"),
        )
        _send(mx, "dsn_hard.eml", "", forged, BOUNCE=forged, RCPT=mx.address("victim"))
        mx.wait_for(inbox, count=len(GHOSTS) + 4)

        assert main(["--config", config, "bounces", "process"]) == 0
        expected = (
            {mx.address(n): ACTIVE for n in ("alive", "away", "victim")}
            | {mx.address(n): BOUNCED for n in GHOSTS}
            | {mx.address("angry"): COMPLAINED, mx.address("leaver"): UNSUBSCRIBED}
        )
        assert _statuses(store) == expected
        counts = {BounceKind.HARD: 3, BounceKind.COMPLAINT: 1, BounceKind.UNSUBSCRIBE: 1,
                  BounceKind.AUTO_REPLY: 1, BounceKind.UNKNOWN: 1}  # fmt: skip
        with store.read() as conn:
            assert count_by_kind(conn) == counts
            run = conn.execute(select(job_runs).where(job_runs.c.job == "bounces")).one()
        assert (run.trigger, run.outcome) == (JobTrigger.MANUAL.value, "ok")
        assert run.summary.startswith("7 messages;")
        assert "changed: bounced 3, complained 1, unsubscribed 1" in run.summary
        assert maildir_messages(inbox) == []

        # A second run over the same messages (put back into the inbox) changes nothing.
        for path in maildir_messages(inbox / ".processed"):
            path.rename(inbox / "new" / path.name.split(":")[0])
        assert main(["--config", config, "bounces", "process"]) == 0
        assert _statuses(store) == expected
        with store.read() as conn:
            assert count_by_kind(conn) == counts

        # The next digest skips every suppressed address.
        clock.advance(days=1)
        add_articles(store, [article(2, "news", clock() - timedelta(hours=2),
                                     priority=Priority.RECOMMENDED)])  # fmt: skip
        second = send_digest_blocking(digest_config(settings), store, clock)
        assert second.ok, second.summary()
        assert _mailed_in_last_run(store) == {ids[n] for n in ("alive", "away", "victim")}
        for name in ("alive", "away", "victim"):
            mx.wait_for(mx.maildir(name), count=2)
        assert len(maildir_messages(mx.maildir("angry"))) == 1
        assert maildir_messages(inbox) == []  # no new DSN
        store.dispose()


def _delivered(mx: PostfixServer, name: str) -> Message:
    found = mx.wait_for(mx.maildir(name), count=1)
    return email.message_from_bytes(found[0].read_bytes())


def _mailto(msg: Message) -> str:
    match = re.search(r"<mailto:([^?>]+)", " ".join(str(msg["List-Unsubscribe"]).split()))
    assert match is not None
    return match.group(1)


def _send(mx: PostfixServer, sample: str, sender: str, rcpt: str, **values: str) -> None:
    text = (MAIL / sample).read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    # Return-Path and Delivered-To are the receiving MTA's to add (Postfix refuses a
    # message that already names its recipient in Delivered-To: a mail loop); a quoted
    # original keeps its own (a complaint is traced by it).
    head, _, body = text.partition("\n\n")
    skip = ("Return-Path:", "Delivered-To:")
    lines = [line for line in head.splitlines() if not line.startswith(skip)]
    lines += ["", *body.splitlines()]
    data = "\r\n".join(lines).replace("@@MSGID@@", f"{sample}@sender.example") + "\r\n"
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as smtp:
        smtp.sendmail(sender, [rcpt], data.encode("utf-8"))


def _statuses(store: Store) -> dict[str, SubscriberStatus]:
    with store.read() as conn:
        rows = conn.execute(select(subscribers.c.email, subscribers.c.status))
        return {email_: SubscriberStatus(status) for email_, status in rows}


def _mailed_in_last_run(store: Store) -> set[int]:
    with store.read() as conn:
        newest = conn.execute(select(digests.c.id).order_by(digests.c.id.desc())).scalar()
        query = select(deliveries.c.subscriber_id).where(deliveries.c.digest_id == newest)
        return set(conn.execute(query).scalars())
