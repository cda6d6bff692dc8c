"""Selection: important articles of a window, cut per subscriber; period keys; schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from digestkit import SECTIONS, add_articles, article, make_settings
from support import NOW, SHANGHAI

from pressroom.digest.plan import period_key, resolve_schedule
from pressroom.digest.select import ContentCache, cut_for, important_articles
from pressroom.errors import UsageError
from pressroom.models import Article, Frequency, Priority, Subscriber, SubscriberStatus
from pressroom.store.articles import list_sections
from pressroom.store.engine import Store
from pressroom.wiring import digest_config

REC, HEAD = Priority.RECOMMENDED, Priority.HEADLINE


def _article(ident: int, section: str, hours_ago: float = 1) -> Article:
    when = NOW - timedelta(hours=hours_ago)
    return Article(ident, f"https://x.cn/{ident}", section, f"标题{ident}", "", "", "", None,
                   when, when)  # fmt: skip


def _subscriber(*sections: str) -> Subscriber:
    return Subscriber(1, "a@x.com", "", SubscriberStatus.ACTIVE, Frequency.DAILY, sections)


def test_important_articles_are_the_window_ranked_by_score_then_recency(
    tmp_path: Path, store: Store
) -> None:
    config = digest_config(make_settings(tmp_path))
    hour = timedelta(hours=1)
    ids = add_articles(
        store,
        [
            article(1, "news", NOW - 2 * hour, priority=REC),  # 5
            article(2, "news", NOW - 1 * hour),  # 3: not important
            article(3, "china", NOW - 3 * hour, priority=HEAD, views=20000),  # 8
            article(4, "tech", NOW - 4 * hour, views=50000),  # 3: not important
            article(5, "news", NOW - 1 * hour, priority=REC),  # 5, newer than 1
            article(6, "news", NOW - 30 * hour, priority=HEAD),  # outside the window
            article(7, "news", NOW + hour, priority=HEAD),  # after the window end
            article(8, "world", NOW - 24 * hour, priority=HEAD),  # exactly at start: excluded
        ],
    )
    with store.read() as conn:
        found = important_articles(conn, config, list_sections(conn), NOW - 24 * hour, NOW)
    url = "https://www.example.cn/{}/{}.html"
    expected = [ids[url.format(s, n)] for s, n in [("china", 3), ("news", 5), ("news", 1)]]
    assert [a.id for a in found] == expected


def test_config_weights_override_the_store_weights(tmp_path: Path, store: Store) -> None:
    settings = make_settings(tmp_path, '[[sections]]\nslug = "tech"\nname = "科技"\nweight = 5.0\n')
    add_articles(store, [article(1, "tech", NOW - timedelta(hours=1))])
    with store.read() as conn:
        found = important_articles(
            conn, digest_config(settings), list_sections(conn), NOW - timedelta(1), NOW
        )
    assert [a.section for a in found] == ["tech"]


def test_cut_keeps_chosen_sections_caps_and_groups_best_first() -> None:
    ranked = [_article(1, "world"), _article(2, "news"), _article(3, "world"),
              _article(4, "tech"), _article(5, "news"), _article(6, "china")]  # fmt: skip
    content = cut_for(ranked, ["news", "world"], SECTIONS, max_items=3)
    assert [(g.section.name, [a.id for a in g.articles]) for g in content.groups] == [
        ("国际", [1, 3]),
        ("要闻", [2]),
    ]
    assert content.count == 3 and content.key == (1, 3, 2)
    everything = cut_for(ranked, [], SECTIONS, max_items=20)
    assert everything.count == 6
    assert not cut_for(ranked, ["sport"], SECTIONS, max_items=20)


def test_content_cache_cuts_once_per_section_choice() -> None:
    cache = ContentCache([_article(1, "news"), _article(2, "tech")], SECTIONS, 20)
    first = cache.for_subscriber(_subscriber("news", "tech"))
    again = cache.for_subscriber(_subscriber("tech", "news"))
    assert first is again and cache.distinct == 1
    assert cache.for_subscriber(_subscriber()).count == 2 and cache.distinct == 2


@pytest.mark.parametrize(
    ("at", "frequency", "zone", "expected"),
    [
        (datetime(2026, 11, 29, 1, 0, tzinfo=UTC), Frequency.DAILY, SHANGHAI, "2026-11-29"),
        (datetime(2026, 11, 28, 16, 30, tzinfo=UTC), Frequency.DAILY, SHANGHAI, "2026-11-29"),
        (
            datetime(2026, 11, 28, 16, 30, tzinfo=UTC),
            Frequency.DAILY,
            ZoneInfo("UTC"),
            "2026-11-28",
        ),
        (datetime(2026, 11, 29, 1, 0, tzinfo=UTC), Frequency.WEEKLY, SHANGHAI, "2026-W48"),
        (datetime(2027, 1, 1, 1, 0, tzinfo=UTC), Frequency.WEEKLY, SHANGHAI, "2026-W53"),
    ],
)
def test_period_key_is_the_local_day_or_iso_week(
    at: datetime, frequency: Frequency, zone: ZoneInfo, expected: str
) -> None:
    assert period_key(frequency, at, zone) == expected


def test_schedules_resolve_by_name_with_an_implicit_daily_default(tmp_path: Path) -> None:
    assert resolve_schedule(make_settings(tmp_path).schedules, None).name == "daily"
    settings = make_settings(
        tmp_path,
        '[[schedules]]\nname = "feeds"\njob = "feeds"\ncron = "*/10 * * * *"\n'
        '[[schedules]]\nname = "weekly-digest"\njob = "digest"\ncron = "0 8 * * 1"\n'
        'frequency = "weekly"\ntimezone = "Europe/Berlin"\n',
    )
    chosen = resolve_schedule(settings.schedules, None)
    assert (chosen.name, chosen.frequency) == ("weekly-digest", Frequency.WEEKLY)
    with pytest.raises(UsageError, match="'feeds': no digest schedule"):
        resolve_schedule(settings.schedules, "feeds")
