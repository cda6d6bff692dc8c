"""The digest service end to end on the file transport, on SQLite and PostgreSQL.

Runs per (schedule, period), the watermark, who gets what, resumes, and the modes that
record nothing (dry run, test copy, preview).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from digestkit import (
    SITE,
    add_articles,
    add_subscriber,
    article,
    count_runs,
    make_settings,
    outbox_mails,
    parse_message,
)
from smtpkit import Recorder, SmtpServer
from support import NOW, FakeClock
from support import make_settings as settings_with

from pressroom.config import Settings
from pressroom.digest.preview import preview_digest, send_test_copy
from pressroom.digest.service import deliver_digest, dry_run_digest, send_digest
from pressroom.errors import ConfigError
from pressroom.models import ConsentSource, DigestStatus, Frequency, Priority, SubscriberStatus
from pressroom.store.consent import consent_history
from pressroom.store.digests import find_digest
from pressroom.store.engine import Store
from pressroom.store.subscribers import find_subscriber
from pressroom.wiring import digest_config

HOUR = timedelta(hours=1)
REC, HEAD = Priority.RECOMMENDED, Priority.HEADLINE


def _outbox(settings: Settings) -> dict[str, list[str]]:
    """Recipient -> subjects of the .eml files in the outbox."""
    found: dict[str, list[str]] = {}
    for path in outbox_mails(settings):
        parsed = parse_message(path.read_bytes())
        found.setdefault(parsed["To"].addresses[0].addr_spec, []).append(str(parsed["Subject"]))
    return found


def _titles(settings: Settings, recipient: str) -> list[list[str]]:
    mails = []
    for path in outbox_mails(settings):
        parsed = parse_message(path.read_bytes())
        if parsed["To"].addresses[0].addr_spec == recipient:
            text = parsed.get_body(("plain",)).get_content()
            mails.append(
                [
                    line.split(". ", 1)[1]
                    for line in text.splitlines()
                    if ". " in line and line[0].isdigit()
                ]
            )
    return mails


@pytest.fixture
def site(tmp_path: Path, store: Store) -> Settings:
    """A site with important articles in news and china, and five kinds of subscriber."""
    add_articles(
        store,
        [
            article(1, "news", NOW - 2 * HOUR, priority=REC),
            article(2, "china", NOW - 3 * HOUR, priority=HEAD),
            article(3, "tech", NOW - 4 * HOUR),  # not important
            article(4, "news", NOW - 30 * HOUR, priority=HEAD),  # before the first window
        ],
    )
    add_subscriber(store, "all@example.com", name="全部")
    add_subscriber(store, "news@example.com", sections=["news"])
    add_subscriber(store, "tech@example.com", sections=["tech"])  # nothing for them
    add_subscriber(store, "weekly@example.com", frequency=Frequency.WEEKLY)
    add_subscriber(store, "pending@example.com", status=SubscriberStatus.PENDING)
    return make_settings(tmp_path)


def test_a_run_mails_each_active_subscriber_what_they_chose_once(
    site: Settings, store: Store
) -> None:
    clock = FakeClock()
    report = asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    assert (report.key, report.created, report.completed) == ("daily:2026-11-29", True, True)
    assert (report.articles, report.recipients, report.sent, report.ok) == (2, 2, 2, True)
    assert _titles(site, "all@example.com") == [["news 新闻 1", "china 新闻 2"]]
    assert _titles(site, "news@example.com") == [["news 新闻 1"]]
    assert set(_outbox(site)) == {"all@example.com", "news@example.com"}

    again = asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    assert (again.created, again.sent, again.recipients) == (False, 0, 2)
    assert "already completed" in again.summary()
    assert len(list(site.path(site.mail.outbox).glob("*.eml"))) == 2
    assert count_runs(store) == (1, 2)


def test_the_watermark_carries_on_where_the_last_run_ended(site: Settings, store: Store) -> None:
    clock = FakeClock()
    asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    late = clock.now - HOUR / 2  # published before the first run's end: already sent? no:
    add_articles(store, [article(5, "news", clock.now + HOUR, priority=HEAD)])
    add_articles(store, [article(6, "china", late, priority=HEAD)])  # inside the old window
    clock.advance(days=1)
    report = asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    assert report.key == "daily:2026-11-30" and report.articles == 1
    assert _titles(site, "all@example.com")[-1] == ["news 新闻 5"]
    with store.read() as conn:
        first = find_digest(conn, "daily", "2026-11-29")
        second = find_digest(conn, "daily", "2026-11-30")
    assert first is not None and second is not None
    assert second.window_start == first.window_end == NOW
    assert first.window_start == NOW - timedelta(days=1)


def test_a_stopped_run_stays_open_and_a_resume_completes_it(site: Settings, store: Store) -> None:
    clock = FakeClock()
    stop = asyncio.Event()
    stop.set()
    report = asyncio.run(
        send_digest(digest_config(site), store, clock, show_progress=False, stop=stop)
    )
    assert (report.sent, report.remaining, report.ok, report.completed) == (0, 2, False, False)
    with store.read() as conn:
        run = find_digest(conn, "daily", "2026-11-29")
    assert run is not None and run.status is DigestStatus.OPEN
    add_articles(store, [article(7, "news", NOW - HOUR / 4, priority=HEAD, views=99999)])
    clock.advance(minutes=30)
    resumed = asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    assert (resumed.created, resumed.sent, resumed.completed) == (False, 2, True)
    assert resumed.articles == 2  # the frozen selection, not article 7 published since
    with store.read() as conn:
        done = find_digest(conn, "daily", "2026-11-29")
    assert done is not None and done.status is DigestStatus.COMPLETED
    assert done.window_end == NOW  # the watermark is the run's own end, not the resume time


def test_a_new_period_supersedes_an_unfinished_run_and_keeps_its_articles(
    site: Settings, store: Store
) -> None:
    clock = FakeClock()
    stop = asyncio.Event()
    stop.set()
    asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False, stop=stop))
    clock.advance(days=1)
    report = asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    assert report.key == "daily:2026-11-30" and report.articles == 2  # day one's articles
    with store.read() as conn:
        old = find_digest(conn, "daily", "2026-11-29")
    assert old is not None and old.status is DigestStatus.FAILED


def test_a_period_with_nothing_important_mails_nobody_and_moves_on(
    site: Settings, store: Store
) -> None:
    clock = FakeClock()
    asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    clock.advance(days=1)
    report = asyncio.run(send_digest(digest_config(site), store, clock, show_progress=False))
    assert (report.articles, report.recipients, report.completed) == (0, 0, True)
    assert len(list(site.path(site.mail.outbox).glob("*.eml"))) == 2


def test_dry_run_test_copy_and_preview_record_nothing(site: Settings, store: Store) -> None:
    clock = FakeClock()
    dry = asyncio.run(
        send_digest(digest_config(site), store, clock, dry_run=True, show_progress=False)
    )
    assert (dry.recipients, dry.articles, dry.sent) == (2, 2, 0)
    shown = preview_digest(digest_config(site), store, clock, subscriber="Someone@Example.com")
    assert shown.recipient == "Someone@example.com" and shown.articles == 2  # all sections
    shown = preview_digest(digest_config(site), store, clock, subscriber="news@EXAMPLE.com")
    assert shown.articles == 1 and "news 新闻 1" in shown.text and shown.subject.endswith("1 篇")
    assert count_runs(store)[0] == 0 and not site.path(site.mail.outbox).exists()
    test = asyncio.run(
        send_digest(digest_config(site), store, clock, to="me@Example.org", show_progress=False)
    )
    assert test.test_to == "me@example.org"
    assert _outbox(site) == {"me@example.org": ["测试新闻网 · 11月28日 要闻 2 篇"]}
    assert count_runs(store) == (0, 0)


def test_the_modes_are_also_callable_on_their_own(site: Settings, store: Store) -> None:
    clock = FakeClock()
    dry = dry_run_digest(digest_config(site), store, clock)
    assert (dry.dry_run, dry.recipients, dry.articles) == (True, 2, 2)
    test = asyncio.run(send_test_copy(digest_config(site), store, clock, to="me@example.org"))
    assert test.test_to == "me@example.org" and count_runs(store) == (0, 0)
    sent = asyncio.run(deliver_digest(digest_config(site), store, clock, show_progress=False))
    assert (sent.sent, sent.completed) == (2, True) and count_runs(store) == (1, 2)


def test_weekly_schedules_key_by_iso_week_and_mail_weekly_subscribers(
    tmp_path: Path, site: Settings, store: Store
) -> None:
    weekly = make_settings(
        tmp_path,
        '[[schedules]]\nname = "weekly"\njob = "digest"\ncron = "0 8 * * 1"\n'
        'frequency = "weekly"\n',
    )
    report = asyncio.run(
        send_digest(digest_config(weekly), store, FakeClock(), show_progress=False)
    )
    assert (report.key, report.sent) == ("weekly:2026-W48", 1)
    assert set(_outbox(weekly)) == {"weekly@example.com"}
    assert report.articles == 3  # a week back: article 4 (30 h old) too


def test_sending_without_a_secret_is_a_config_error(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path).model_copy(
        update={"web": make_settings(tmp_path).web.model_copy(update={"secret": None})}
    )
    with pytest.raises(ConfigError, match=r"web\.secret"):
        asyncio.run(send_digest(digest_config(settings), store, FakeClock(), show_progress=False))


def test_a_late_run_is_keyed_by_its_fire_time_and_labelled_by_its_window(
    site: Settings, store: Store
) -> None:
    clock = FakeClock()
    clock.advance(hours=29)  # 05:00 on 30 November in Shanghai
    fired = NOW + 8 * HOUR  # 08:00 on 29 November: the worker catching up a missed run
    report = asyncio.run(
        send_digest(digest_config(site), store, clock, at=fired, show_progress=False)
    )
    assert report.key == "daily:2026-11-29"
    # the window: the whole day before the fire time's day, the 28th's news; not the
    # hours up to the late start
    assert _outbox(site)["all@example.com"] == ["测试新闻网 · 11月28日 要闻 2 篇"]
    with store.read() as conn:
        run = find_digest(conn, "daily", "2026-11-29")
    assert run is not None and (run.window_start, run.window_end) == (NOW - 24 * HOUR, NOW)


def test_a_5xx_while_sending_bounces_the_subscriber_through_the_consent_rules(
    site: Settings,
    store: Store,
    tmp_path: Path,
    smtp_server: Callable[..., SmtpServer],
) -> None:
    """The service gives the sender lifecycle's bounce rule (issue 18): a refused recipient
    becomes bounced at ``bounce_after``, with its consent event, in the ledger's commit."""
    server = smtp_server(Recorder(reject={"news@example.com"}))
    smtp = {"host": server.host, "port": server.port, "tls": "none", "timeout": 5.0}
    mail = SITE["mail"] | {"transport": "smtp", "bounce_after": 1, "smtp": smtp}
    settings = settings_with(tmp_path, **(SITE | {"mail": mail}))
    config = digest_config(settings)
    report = asyncio.run(send_digest(config, store, FakeClock(), show_progress=False))
    assert (report.sent, report.failed) == (1, 1)
    with store.read() as conn:
        refused = find_subscriber(conn, "news@example.com")
        assert refused is not None and refused.status is SubscriberStatus.BOUNCED
        events = consent_history(conn, refused.id)
    assert [(e.from_status, e.to_status, e.source, e.note) for e in events] == [
        (SubscriberStatus.ACTIVE, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE,
         "1 permanent delivery failures"),
    ]  # fmt: skip
