"""Period labels name the days a digest's articles were selected from, on both sides of a
week, month and year boundary (issue 22: "2026年第51周" held week 50's news)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from digestkit import SITE, add_articles, add_subscriber, article, outbox_mails, parse_message
from support import SHANGHAI, FakeClock
from support import make_settings as settings_with

from pressroom.digest.labels import window_label, window_name
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


def test_an_archive_page_is_named_by_the_days_of_its_window() -> None:
    end = datetime(2026, 12, 7, tzinfo=SHANGHAI)  # the weekly sent on Monday 7 December
    assert window_name(end - timedelta(days=1), end, SHANGHAI) == "2026-12-06"
    assert window_name(end - timedelta(days=7), end, SHANGHAI) == "2026-11-30_2026-12-06"
    new_year = datetime(2027, 1, 4, tzinfo=SHANGHAI)
    assert window_name(new_year - timedelta(days=7), new_year, SHANGHAI) == (
        "2026-12-28_2027-01-03"
    )


def test_a_short_or_midnight_window_names_its_days() -> None:
    midnight = datetime(2026, 12, 8, tzinfo=SHANGHAI)
    assert window_label(midnight - timedelta(days=1), midnight, SHANGHAI) == "12月7日"
    late = datetime(2026, 12, 8, 10, tzinfo=SHANGHAI)  # a second run two hours after one
    assert window_label(late - timedelta(hours=2), late, SHANGHAI) == "12月8日"


def _local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def _send_all(tmp_path: Path, store: Store, frequency: Frequency, published: list[datetime],
              sends: list[datetime]) -> list[tuple[str, list[str], str]]:  # fmt: skip
    """Publish one recommended article at each of ``published`` (titled by its local time),
    send the digest at each of ``sends`` (07:00 cron) and read back, per mail: the subject's
    label, the article titles in the text part, and the name of its archive page."""
    schedule = (
        f'[[schedules]]\nname = "run"\njob = "digest"\ncron = "0 7 * * *"\n'
        f'frequency = "{frequency}"\n'
    )
    settings = settings_with(tmp_path, schedule, **SITE)
    rows = [article(n, "news", at.astimezone(UTC), priority=REC) for n, at in enumerate(published)]
    for row, at in zip(rows, published, strict=True):
        row["title"] = f"发表于{at:%m%d-%H%M}"
    add_articles(store, rows)
    add_subscriber(store, "reader@example.com", frequency=frequency)
    for send in sends:
        clock = FakeClock(send.astimezone(UTC))
        report = asyncio.run(
            send_digest(digest_config(settings), store, clock, show_progress=False)
        )
        assert report.ok
    mails = []
    for path in outbox_mails(settings):
        parsed = parse_message(path.read_bytes())
        subject = str(parsed["Subject"])
        label = subject.removeprefix("测试新闻网 · ").split(" 要闻")[0]
        text = parsed.get_body(("plain",)).get_content()
        titles = sorted(set(re.findall(r"发表于\d{4}-\d{4}", text)))
        html = parsed.get_body(("html",)).get_content()
        assert f"以下是{label}测试新闻网的重要文章。" in html
        assert f"以下是{label}测试新闻网的重要文章。" in text
        page = re.search(r"/digests/run/([0-9_-]+)\.html", html)  # view in browser
        assert page is not None, html
        mails.append((label, titles, page.group(1)))
    return mails


def test_a_daily_digest_holds_exactly_the_day_it_names_across_a_month_boundary(
    tmp_path: Path, store: Store
) -> None:
    """Sent at 07:00: the articles of the day before, midnight to midnight; the ones of the
    small hours wait for tomorrow's digest, whose label names their day."""
    published = [_local(11, 30, 23, 30), _local(12, 1, 0, 30), _local(12, 1, 6, 50),
                 _local(12, 1, 7, 10), _local(12, 1, 23, 59)]  # fmt: skip
    sends = [_local(12, 1, 7), _local(12, 2, 7)]
    mails = _send_all(tmp_path, store, Frequency.DAILY, published, sends)
    assert [(label, titles) for label, titles, _ in mails] == [
        ("11月30日", ["发表于1130-2330"]),
        ("12月1日", ["发表于1201-0030", "发表于1201-0650", "发表于1201-0710",
                    "发表于1201-2359"]),
    ]  # fmt: skip


def test_a_weekly_digest_holds_exactly_the_week_it_names_across_a_week_boundary(
    tmp_path: Path, store: Store
) -> None:
    """Sent on Monday 7 December: Monday 30 November to Sunday 6 December, whole days; the
    Monday morning's articles are next week's."""
    published = [_local(11, 29, 23, 30), _local(11, 30, 0, 10), _local(12, 6, 23, 59),
                 _local(12, 7, 0, 1), _local(12, 7, 6, 0)]  # fmt: skip
    sends = [_local(12, 7, 7), _local(12, 14, 7)]
    mails = _send_all(tmp_path, store, Frequency.WEEKLY, published, sends)
    assert [(label, titles) for label, titles, _ in mails] == [
        ("11月30日至12月6日", ["发表于1130-0010", "发表于1206-2359"]),
        ("12月7日至12月13日", ["发表于1207-0001", "发表于1207-0600"]),
    ]
    assert [page for _, _, page in mails] == ["2026-11-30_2026-12-06", "2026-12-07_2026-12-13"]


def test_missed_days_are_named_and_held_by_the_next_digest(tmp_path: Path, store: Store) -> None:
    """No digest went out for three days: the next one names and holds all of them."""
    published = [_local(12, 1, 12), _local(12, 3, 12), _local(12, 4, 12), _local(12, 5, 1)]
    sends = [_local(12, 2, 7), _local(12, 5, 7)]
    mails = _send_all(tmp_path, store, Frequency.DAILY, published, sends)
    assert [(label, titles) for label, titles, _ in mails] == [
        ("12月1日", ["发表于1201-1200"]),
        ("12月2日至12月4日", ["发表于1203-1200", "发表于1204-1200"]),
    ]
    assert [page for _, _, page in mails] == ["2026-12-01", "2026-12-02_2026-12-04"]
