"""Three days of downtime with the real digest service: one digest, no article lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from storekit import add_subscriber
from support import FakeClock

from pressroom.config import Settings
from pressroom.store.articles import upsert_articles
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import articles, digests
from pressroom.worker.registry import job_for
from pressroom.worker.scheduler import job_runner, plan_startup

DAY0_0800 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai
SCHEDULE = """
[[sections]]
slug = "news"
name = "要闻"
weight = 1.0

[[schedules]]
name = "morning"
job = "digest"
cron = "0 8 * * *"
misfire_grace = "6h"
"""


@pytest.fixture
def site(make_settings) -> Iterator[tuple[Settings, Store]]:  # type: ignore[no-untyped-def]
    settings = make_settings(SCHEDULE)
    store = open_store(settings.store_url)
    with store.write() as conn:
        add_subscriber(conn, "reader@example.com", name="读者", now=DAY0_0800 - timedelta(days=10))
    yield settings, store
    store.dispose()


def publish(store: Store, n: int, when: datetime) -> None:
    """An important article (headline, many views) published at ``when``."""
    row = {
        "url": f"https://www.example.com/a/{n}.html",
        "section": "news",
        "title": f"头条新闻 {n}",
        "summary": "摘要",
        "body_html": "<p>正文</p>",
        "authors": "文字:记者",
        "image_url": None,
        "published_at": when,
        "updated_at": when,
        "views": 50000,
        "priority": 2,
        "status": "published",
    }
    with store.write() as conn:
        upsert_articles(conn, [row], when)


def digest_articles(store: Store) -> list[tuple[str, set[str]]]:
    with store.read() as conn:
        titles = {i: t for i, t in conn.execute(select(articles.c.id, articles.c.title))}
        rows = conn.execute(
            select(digests.c.period, digests.c.article_ids).order_by(digests.c.id)
        ).all()
    return [(period, {titles[int(i)] for i in ids.split(",") if i}) for period, ids in rows]


def start_up(settings: Settings, store: Store, clock: FakeClock) -> list[str]:
    """What the worker does at start-up: run each 'run' decision once, for its fire time."""
    runner = job_runner(settings, store, clock, "w1")
    ran = []
    for decision in plan_startup(settings, store, clock()):
        if decision.action == "run" and decision.fire_time is not None:
            ran.append(
                asyncio.run(runner.run(job_for(decision.schedule), decision.fire_time)).outcome
            )
    return ran


@pytest.mark.slow
@pytest.mark.parametrize(
    "back_after", [timedelta(hours=2), timedelta(hours=9)], ids=["inside", "beyond"]
)
def test_three_days_down_sends_one_digest_and_loses_nothing(
    site: tuple[Settings, Store], back_after: timedelta
) -> None:
    settings, store = site
    clock = FakeClock(DAY0_0800 - timedelta(hours=20))  # noon the day before day 0
    publish(store, 0, clock.now)
    clock.now = DAY0_0800 + timedelta(minutes=1)
    assert start_up(settings, store, clock) == ["ok"]  # day 0: the worker was running
    for day in range(1, 4):  # down for three days; the newsroom keeps publishing (at 22:00)
        publish(store, day, DAY0_0800 + timedelta(days=day, hours=-10))
    clock.now = DAY0_0800 + timedelta(days=3) + back_after
    ran = start_up(settings, store, clock)
    sent = digest_articles(store)
    if back_after <= timedelta(hours=6):
        assert ran == ["ok"]  # the latest period, once: no backlog for days 1 and 2
        assert [p for p, _ in sent] == ["2026-11-26", "2026-11-29"]
        assert sent[1][1] == {"头条新闻 1", "头条新闻 2", "头条新闻 3"}
    else:
        assert ran == []  # skipped: too late for today's 08:00
        clock.now = DAY0_0800 + timedelta(days=4, minutes=1)  # the next morning
        publish(store, 4, clock.now - timedelta(hours=12))  # 20:00 the evening before
        assert start_up(settings, store, clock) == ["ok"]
        assert [p for p, _ in sent] == ["2026-11-26"]
        sent = digest_articles(store)
        assert sent[1][1] == {"头条新闻 1", "头条新闻 2", "头条新闻 3", "头条新闻 4"}
    assert sent[0][1] == {"头条新闻 0"}
    assert len(list(settings.path(settings.mail.outbox).glob("*.eml"))) == 2
