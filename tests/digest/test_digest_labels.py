"""Period labels name the days a digest's articles were selected from, on both sides of a
week, month and year boundary (issue 22: "2026年第51周" held week 50's news)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from digestkit import SITE, add_articles, add_subscriber, article, outbox_mails, parse_message
from support import SHANGHAI, FakeClock
from support import make_settings as settings_with

from pressroom.digest.labels import window_label
from pressroom.digest.service import send_digest
from pressroom.models import Frequency, Priority
from pressroom.store.engine import Store
from pressroom.wiring import digest_config

REC = Priority.RECOMMENDED

LOCAL_7AM = [  # (send day at 07:00 in Shanghai, daily label, weekly label)
    (datetime(2026, 12, 8), "12月7日", "12月1日至12月7日"),  # Tuesday
    (datetime(2026, 12, 7), "12月6日", "11月30日至12月6日"),  # a Monday: week and month
    (datetime(2026, 12, 1), "11月30日", "11月24日至11月30日"),  # a month boundary
    (datetime(2027, 1, 1), "12月31日", "12月25日至12月31日"),
    (datetime(2027, 1, 4), "1月3日", "2026年12月28日至2027年1月3日"),  # a year
]


@pytest.mark.parametrize(("day", "daily", "weekly"), LOCAL_7AM)
def test_labels_name_the_days_of_the_window(day: datetime, daily: str, weekly: str) -> None:
    end = day.replace(hour=7, tzinfo=SHANGHAI)
    assert window_label(end - timedelta(days=1), end, SHANGHAI) == daily
    assert window_label(end - timedelta(days=7), end, SHANGHAI) == weekly


def test_a_short_or_midnight_window_names_its_days() -> None:
    midnight = datetime(2026, 12, 8, tzinfo=SHANGHAI)
    assert window_label(midnight - timedelta(days=1), midnight, SHANGHAI) == "12月7日"
    late = datetime(2026, 12, 8, 10, tzinfo=SHANGHAI)  # a second run two hours after one
    assert window_label(late - timedelta(hours=2), late, SHANGHAI) == "12月8日"


@pytest.mark.parametrize("frequency", [Frequency.DAILY, Frequency.WEEKLY])
def test_sent_digests_across_a_month_boundary_carry_their_window(
    tmp_path: Path, store: Store, frequency: Frequency
) -> None:
    """Two real runs: subject, heading and text part name the window's days, and the
    second window starts where the first ended."""
    schedule = (
        f'[[schedules]]\nname = "run"\njob = "digest"\ncron = "0 7 * * *"\n'
        f'frequency = "{frequency}"\n'
    )
    settings = settings_with(tmp_path, schedule, **SITE)
    step = timedelta(days=1 if frequency is Frequency.DAILY else 7)
    first = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 07:00 on 1 December in Shanghai
    sends = [first, first + step]
    add_articles(store, [article(n, "news", s - timedelta(hours=2), priority=REC)
                         for n, s in enumerate(sends, 1)])  # fmt: skip
    add_subscriber(store, "reader@example.com", frequency=frequency)
    for send in sends:
        report = asyncio.run(
            send_digest(digest_config(settings), store, FakeClock(send), show_progress=False)
        )
        assert report.completed and report.sent == 1
    expected = (
        ["11月30日", "12月1日"]
        if frequency is Frequency.DAILY
        else ["11月24日至11月30日", "12月1日至12月7日"]
    )
    mails = outbox_mails(settings)
    assert len(mails) == 2
    for path, label in zip(mails, expected, strict=True):
        parsed = parse_message(path.read_bytes())
        assert str(parsed["Subject"]) == f"测试新闻网 · {label} 要闻 1 篇"
        html = parsed.get_body(("html",)).get_content()
        text = parsed.get_body(("plain",)).get_content()
        assert f"以下是{label}测试新闻网的重要文章。" in html
        assert f"以下是{label}测试新闻网的重要文章。" in text
