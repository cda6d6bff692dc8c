"""The bundled demo corpus: the site's 22 sections, the seed article and generated news.

Built from the facts of one real page of the site (``data/``): its sections, one article
(重要讲话, published 2020-01-31 22:51 Beijing time, 1539 views) and its sidebar headlines.
Every section also gets generated articles with recent publish times, views and
priorities, so each section has a feed and a digest has news to send. Deterministic for a
given ``now``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from functools import cache
from html import escape
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pressroom.clock import as_utc
from pressroom.models import Section
from pressroom.store.articles import UpsertCounts
from pressroom.store.engine import Store

__all__ = [
    "DEMO_BASE_URL",
    "DEMO_SITE_NAME",
    "demo_articles",
    "demo_sections",
    "demo_subscribers",
    "load_demo",
    "seed_article",
    "site_facts",
]

DEMO_BASE_URL = "https://dangjian.example.cn/"
DEMO_SITE_NAME = "辽宁党建网"
SITE_ZONE = ZoneInfo("Asia/Shanghai")
ARTICLES_PER_SECTION = 5

_SENTENCES = (
    "会议强调，要坚持以人民为中心的发展思想，把各项工作落到实处。",
    "各级党组织要切实履行主体责任，推动工作取得实效。",
    "与会同志结合工作实际，围绕主题进行了深入交流。",
    "下一步，将进一步完善工作机制，确保各项措施落地见效。",
    "活动现场气氛热烈，参与群众纷纷表示收获很大。",
    "据介绍，今年以来累计开展专题活动一百余场，覆盖党员群众两万余人次。",
    "专家指出，要把学习成果转化为推动高质量发展的强大动力。",
    "该负责人表示，将以此次活动为契机，持续深化改革创新。",
    "沈阳、大连等地同步组织收听收看，认真学习贯彻会议精神。",
    "记者在现场看到，工作人员正有序开展各项服务保障工作。",
)
_TITLE_PATTERNS = (
    "{headline}",
    "{section}：{place}扎实推进重点工作",
    "{place}召开{section}工作推进会",
    "{section}专题学习交流活动在{place}举行",
    "{place}多措并举推动{section}提质增效",
)
_PLACES = ("沈阳", "大连", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "辽阳")
_REPORTERS = ("李明", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "孙悦")


def _read(name: str) -> Any:
    return json.loads(resources.files("pressroom.demo").joinpath("data", name).read_text("utf-8"))


@cache
def site_facts() -> dict[str, Any]:
    """The site's facts: name, section names, sidebar headlines, footer."""
    return dict(_read("site.json"))


def demo_sections() -> list[Section]:
    """The 22 sections with Chinese names, pinyin slugs and importance weights."""
    rows = _read("sections.json")["sections"]
    return [Section(r["slug"], r["name"], r["weight"], i) for i, r in enumerate(rows)]


def seed_article() -> dict[str, Any]:
    """The real article of the seed page as an import row (times in UTC)."""
    seed = _read("seed-article.json")
    published = as_utc(datetime.fromisoformat(seed["published_local"]), ZoneInfo(seed["timezone"]))
    parts, first_image = [], None
    for block in seed["body"]:
        if block["type"] == "paragraph":
            parts.append(f"<p>{escape(block['text'])}</p>")
        elif block["type"] == "subhead":
            parts.append(f"<h3>{escape(block['text'])}</h3>")
        elif block["type"] == "image":
            first_image = first_image or block["src"]
            parts.append(f'<p><img src="{escape(block["src"])}" alt="{escape(seed["title"])}"></p>')
    parts.append(f"<p>({escape(seed['credits'])})</p>")
    return {
        "url": f"{DEMO_BASE_URL}zhongyao-jianghua/20200131/1580482260.html",
        "section": "zhongyao-jianghua",
        "title": seed["title"],
        "summary": seed["body"][0]["text"],
        "body_html": "\n".join(parts),
        "authors": seed["credits"],
        "image_url": DEMO_BASE_URL + first_image if first_image else None,
        "published_at": published,
        "updated_at": None,
        "views": seed["views"],
        "priority": 0,
        "status": "published",
    }


def demo_articles(now: datetime) -> list[dict[str, Any]]:
    """The seed article plus generated articles for every section, published before ``now``.

    Each section gets :data:`ARTICLES_PER_SECTION` articles spread over the three days
    before ``now``; some are headlines (头条) or recommended (推荐) with many views, so the
    digest has important news in its first window. No two articles share a time (a feed
    validator warns about entries with the same updated time).
    """
    rows = [seed_article()]
    headlines = site_facts()["sidebar_headlines"]
    for section in demo_sections():
        rng = random.Random(f"pressroom-demo-{section.slug}")
        for k in range(ARTICLES_PER_SECTION):
            rows.append(_generated(section, k, now, rng, headlines))
    return _distinct_times(rows)


def _distinct_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move an article that shares its minute with an earlier one a minute back, until free."""
    taken: set[datetime] = set()
    for row in rows:
        published = row["published_at"]
        while published in taken:
            published -= timedelta(minutes=1)
        taken.add(published)
        row["published_at"] = published
    return rows


def _generated(
    section: Section, k: int, now: datetime, rng: random.Random, headlines: list[str]
) -> dict[str, Any]:
    place = rng.choice(_PLACES)
    # The k == 0 article of the first sections is a real sidebar headline (each used once).
    uses_headline = k == 0 and section.position < len(headlines)
    pattern = _TITLE_PATTERNS[0 if uses_headline else 1 + (k + section.position) % 4]
    headline = headlines[section.position] if uses_headline else ""
    title = pattern.format(headline=headline, section=section.name, place=place)
    minutes_ago = 20 + section.position * 11 + k * (14 * 60 + 7) + rng.randrange(0, 90)
    published = (now - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    sentences = rng.sample(_SENTENCES, 5)
    lead = f"{place}讯 {title}。{sentences[0]}"
    body = [f"<p>{escape(lead)}</p>", f"<h3>{escape(section.name)}</h3>"]
    body += [f"<p>{escape(s)}</p>" for s in sentences[1:]]
    reporter = rng.choice(_REPORTERS)
    body.append(f"<p>（文字：{reporter}）</p>")
    local = published.astimezone(SITE_ZONE)
    priority = 2 if k == 0 and section.position % 3 == 0 else 1 if k == 1 else 0
    image = None
    if k % 2 == 0:
        image = f"{DEMO_BASE_URL}uploads/{local:%Y%m}/{section.slug}-{k}.jpg"
        body.insert(1, f'<p><img src="/uploads/{local:%Y%m}/{section.slug}-{k}.jpg" alt=""></p>')
    return {
        "url": f"{DEMO_BASE_URL}{section.slug}/{local:%Y%m%d}/{section.position:02d}{k:02d}.html",
        "section": section.slug,
        "title": title,
        "summary": lead,
        "body_html": "\n".join(body),
        "authors": f"文字：{reporter}",
        "image_url": image,
        "published_at": published,
        "updated_at": None,
        "views": rng.choice((120, 860, 1539, 3200, 6400, 12800, 25600)) + rng.randrange(0, 99),
        "priority": priority,
        "status": "published",
    }


def demo_subscribers() -> list[dict[str, Any]]:
    """A few subscribers: all sections, chosen sections, weekly, and one unconfirmed."""
    return [
        {
            "email": "reader@example.com",
            "name": "王读者",
            "sections": [],
            "frequency": "daily",
            "status": "active",
        },
        {
            "email": "leader.news@example.org",
            "name": "李主任",
            "sections": ["zhongyao-jianghua", "quanwei-fabu", "benzhan-toutiao"],
            "frequency": "daily",
            "status": "active",
        },
        {
            "email": "village@example.net",
            "name": "张书记",
            "sections": ["xiangcun-zhenxing", "diyi-shuji"],
            "frequency": "daily",
            "status": "active",
        },
        {
            "email": "weekly@example.com",
            "name": "Weekly Reader",
            "sections": [],
            "frequency": "weekly",
            "status": "active",
        },
        {
            "email": "pending@example.com",
            "name": "未确认",
            "sections": [],
            "frequency": "daily",
            "status": "pending",
        },
    ]


def load_demo(store: Store, now: datetime, *, subscribers: bool = True) -> UpsertCounts:
    """Write the demo sections, articles (and subscribers) into ``store``; safe to repeat."""
    from pressroom.store.articles import sync_sections, upsert_articles

    with store.write() as conn:
        sync_sections(conn, demo_sections())
        counts = upsert_articles(conn, demo_articles(now), now)
        if subscribers:
            _load_subscribers(conn, now)
    return counts


def _load_subscribers(conn: Connection, now: datetime) -> None:
    from pressroom.models import ConsentSource, Frequency, SubscriberStatus
    from pressroom.store.subscribers import find_subscriber
    from pressroom.subscribers.addresses import normalise_email
    from pressroom.subscribers.bulk_import import OperatorRules
    from pressroom.subscribers.csv_rows import SubscriberRow

    rows: list[tuple[int, SubscriberRow]] = []
    for row in demo_subscribers():
        email = normalise_email(row["email"])
        if find_subscriber(conn, email) is None:
            wanted = SubscriberRow(
                email=email,
                name=row["name"],
                sections=list(row["sections"]),
                frequency=Frequency(row["frequency"]),
                status=SubscriberStatus(row["status"]),
            )
            rows.append((len(rows) + 1, wanted))
    # Added as ``subscribers add`` would: through the consent rule, with their events.
    OperatorRules(ConsentSource.CLI, now, UTC).apply(conn, rows)
