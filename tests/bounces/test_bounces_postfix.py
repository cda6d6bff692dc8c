"""End to end through a real Postfix on 127.0.0.1 (a private instance, loopback only).

A digest goes out over SMTP with VERP envelope senders; Postfix accepts every recipient,
finds the unknown ones unknown and sends real DSNs (RFC 3464) to their VERP addresses,
which it delivers into the bounce Maildir. ``pressroom bounces process`` then marks
exactly those subscribers bounced; a second run changes nothing; the next digest skips them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import support
from digestkit import SITE, add_articles, article
from postfixkit import PostfixServer, maildir_messages
from sqlalchemy import select
from storekit import add_subscriber
from support import NOW, FakeClock

from pressroom.cli import main
from pressroom.digest.service import send_digest_blocking
from pressroom.models import BounceKind, JobTrigger, Priority, SubscriberStatus
from pressroom.store.bounces import count_by_kind
from pressroom.store.engine import open_store
from pressroom.store.schema import deliveries, digests, job_runs, subscribers

pytestmark = [pytest.mark.smtp, pytest.mark.slow]

ALIVE = ["alive1", "alive2"]
GHOSTS = ["ghost1", "ghost2", "ghost3"]


def test_dsns_from_postfix_mark_exactly_the_unknown_recipients(tmp_path: Path) -> None:
    with PostfixServer(mailboxes=["bounces", *ALIVE]) as postfix:
        bounce_box = postfix.maildir("bounces")
        settings = support.make_settings(
            tmp_path,
            site=SITE["site"],
            web=SITE["web"],
            mail={
                "transport": "smtp", "from_address": "digest@mail.test",
                "return_path": "bounces@mail.test", "unsubscribe_mailto": "unsubscribe@mail.test",
                "smtp": {"host": "127.0.0.1", "port": postfix.port, "tls": "none", "timeout": 10},
            },
            bounces={"source": f"maildir:{bounce_box}"},
        )  # fmt: skip
        config = str(settings.source)
        store = open_store(settings.store_url)
        clock = FakeClock()
        add_articles(store, [article(1, "news", NOW - timedelta(hours=2),
                                     priority=Priority.RECOMMENDED)])  # fmt: skip
        with store.write() as conn:
            ids = {n: add_subscriber(conn, postfix.address(n)).id for n in ALIVE + GHOSTS}

        first = send_digest_blocking(settings, store, clock)
        assert first.ok, first.summary()
        arrived = postfix.wait_for(bounce_box, count=len(GHOSTS))
        for name in ALIVE:
            postfix.wait_for(postfix.maildir(name), count=1)
        sent = maildir_messages(postfix.maildir("alive1"))[0].read_bytes()
        assert b"Return-Path: <bounces+d" in sent  # the VERP envelope sender, as delivered
        assert b"Precedence: bulk" in sent and b"Auto-Submitted: auto-generated" in sent
        assert b"<mailto:unsubscribe+d" in sent
        assert all(b"report-type=delivery-status" in p.read_bytes() for p in arrived)

        assert main(["--config", config, "bounces", "process"]) == 0
        expected = {postfix.address(n): SubscriberStatus.ACTIVE for n in ALIVE} | {
            postfix.address(n): SubscriberStatus.BOUNCED for n in GHOSTS
        }
        assert _statuses(store) == expected
        with store.read() as conn:
            assert count_by_kind(conn) == {BounceKind.HARD: len(GHOSTS)}
            run = conn.execute(select(job_runs).where(job_runs.c.job == "bounces")).one()
        assert (run.trigger, run.outcome) == (JobTrigger.MANUAL.value, "ok")
        assert run.summary.startswith("3 messages; hard 3; changed: bounced 3")

        # Second run: the same DSNs again (put back into the inbox) change nothing.
        for path in maildir_messages(bounce_box / ".processed"):
            path.rename(bounce_box / "new" / path.name.split(":")[0])
        assert main(["--config", config, "bounces", "process"]) == 0
        assert _statuses(store) == expected
        with store.read() as conn:
            assert count_by_kind(conn) == {BounceKind.HARD: len(GHOSTS)}

        # The next digest skips every bounced address.
        clock.advance(days=1)
        add_articles(store, [article(2, "news", clock() - timedelta(hours=2),
                                     priority=Priority.RECOMMENDED)])  # fmt: skip
        second = send_digest_blocking(settings, store, clock)
        assert second.ok, second.summary()
        with store.read() as conn:
            newest = conn.execute(select(digests.c.id).order_by(digests.c.id.desc())).scalar()
            mailed = set(conn.execute(
                select(deliveries.c.subscriber_id).where(deliveries.c.digest_id == newest)
            ).scalars())  # fmt: skip
        assert mailed == {ids[n] for n in ALIVE}
        for name in ALIVE:
            postfix.wait_for(postfix.maildir(name), count=2)
        assert len(maildir_messages(bounce_box)) == 0  # no new DSN arrived
        store.dispose()


def _statuses(store) -> dict[str, SubscriberStatus]:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        rows = conn.execute(select(subscribers.c.email, subscribers.c.status))
        return {email: SubscriberStatus(status) for email, status in rows}
