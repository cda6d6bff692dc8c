"""Hostile articles (any unicode, controls, lone surrogates, scripts, broken markup, huge
bodies, relative URLs) always give well-formed feeds with no active content."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from feedkit import BASE_URL, active_content, make_config, parse_feed, strict_xml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support import NOW

from pressroom.feeds import build_feeds
from pressroom.feeds.items import FeedItem
from pressroom.feeds.jsonfeed import render_json
from pressroom.feeds.prepare import prepare_item
from pressroom.feeds.rss_atom import render_atom, render_rss
from pressroom.feeds.specs import FeedSpec, feed_meta
from pressroom.models import Article
from pressroom.store.articles import upsert_articles
from pressroom.store.engine import open_store

NASTY_CHARS = "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\u2028\ufeff\ufffe\uffff\ud800\udfff<>&\"'"
SNIPPETS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="  jav&#x09;ascript:alert(1)">x</a>',
    '<iframe src="https://evil.example/"></iframe>',
    '<svg onload="alert(1)"><circle/></svg>',
    "<style>body{display:none}</style>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<a href="relative/page.html">rel</a>',
    '<img src="../up.jpg?x-oss-process=style/w10">',
    "<p><b><i>unclosed",
    "</div></p></td>",
    "<!-- comment --><![CDATA[ x ]]>",
    "&#0;&#1;&#xD800;&#x1F600;&nbsp;&bogus;",
    "<h3>小标题</h3><p>正文段落。</p>",
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="/steal"><input name=p></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "<base href='https://evil.example/'>",
]

nasty_text = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(NASTY_CHARS),
        st.characters(categories=["Cs"]),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    ),
    max_size=200,
)
markup = st.lists(st.one_of(st.sampled_from(SNIPPETS), nasty_text), max_size=12).map("".join)


def _storable(text: str) -> str:
    """What SQLite can hold: no lone surrogates (they cannot be encoded as UTF-8)."""
    return text.encode("utf-8", "replace").decode("utf-8")


@st.composite
def articles(draw: st.DrawFn, storable: bool = False) -> Article:
    n = draw(st.integers(1, 10_000))

    def fix(text: str) -> str:
        return _storable(text) if storable else text

    url = draw(
        st.one_of(
            st.just(f"{BASE_URL}a/{n}.html"),
            st.just(f"/relative/{n}.html"),
            st.just(f" {BASE_URL}spaced/{n}.html "),
        )
    )
    return Article(
        id=n,
        url=fix(url),
        section="shehui",
        title=fix(draw(st.one_of(nasty_text, st.just(""), markup))),
        summary=fix(draw(st.one_of(nasty_text, markup))),
        body_html=fix(draw(markup)),
        authors=fix(draw(nasty_text)),
        image_url=draw(st.one_of(st.none(), nasty_text.map(fix), st.just("img/x.png"))),
        published_at=NOW - timedelta(minutes=draw(st.integers(1, 10_000))),
        updated_at=NOW - timedelta(minutes=draw(st.integers(0, 10_000))),
    )


def _check_xml(data: bytes, items: list[FeedItem]) -> None:
    etree.fromstring(data, etree.XMLParser(recover=False))
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == len(items)
    for entry in parsed.entries:
        assert entry.id and entry.title and entry.published_parsed
        for content in entry.get("content", []):
            assert active_content(content.value) == []


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(articles(), min_size=1, max_size=4))
def test_any_article_gives_well_formed_feeds(tmp_path_factory: Any, batch: list[Article]) -> None:
    config = make_config(tmp_path_factory.mktemp("h"))
    items = [i for i in (prepare_item(a, config, "社会") for a in batch) if i is not None]
    if not items:
        return
    meta = feed_meta(FeedSpec("shehui", "社会", "shehui"), config, max(i.updated for i in items))
    for item in items:
        assert active_content(item.content_html or "") == []
        assert item.title.strip() and item.link.startswith(BASE_URL)
    _check_xml(render_rss(meta, items), items)
    _check_xml(render_atom(meta, items), items)
    data = json.loads(render_json(meta, items))
    assert [i["id"] for i in data["items"]] == [i.id for i in items]


def test_a_huge_body_is_published_whole(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    body = "<p>" + "很长的正文<b>加粗</b><script>x()</script>" * 20_000
    article = Article(
        id=1,
        url=f"{BASE_URL}a/1.html",
        section="shehui",
        title="长文",
        summary="",
        body_html=body,
        authors="",
        image_url=None,
        published_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(hours=1),
    )
    item = prepare_item(article, config, "社会")
    assert item is not None and item.content_html is not None
    assert len(item.content_html) > 250_000 and "<script" not in item.content_html
    assert item.summary.startswith("很长的正文加粗很长的正文") and len(item.summary) == 120
    meta = feed_meta(FeedSpec("shehui", "社会", "shehui"), config, item.updated)
    root = etree.fromstring(
        render_atom(meta, [item]), etree.XMLParser(recover=False, huge_tree=True)
    )
    content = root.findtext(
        "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}content"
    )
    assert content == item.content_html


def _fields(article: Article) -> dict[str, Any]:
    return {name: getattr(article, name) for name in Article.__slots__}


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty migrated SQLite file, made once and copied by each example."""
    path = tmp_path_factory.mktemp("hs") / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(articles(storable=True), min_size=1, max_size=6, unique_by=lambda a: a.id))
def test_hostile_articles_in_the_store_never_break_a_build(
    tmp_path_factory: pytest.TempPathFactory, migrated_db: Path, batch: list[Article]
) -> None:
    root = tmp_path_factory.mktemp("s")
    config = make_config(root)
    shutil.copyfile(migrated_db, root / "store.db")
    store = open_store(f"sqlite:///{root / 'store.db'}")
    rows = [_row(a, i) for i, a in enumerate(batch)]
    try:
        with store.write() as conn:
            upsert_articles(conn, rows, NOW)
        report = build_feeds(config, store, now=NOW)
    finally:
        store.dispose()
    assert report.ok, report.failed
    out = config.output_dir
    for path in sorted(out.rglob("*.xml")):
        strict_xml(path)
        for entry in parse_feed(path).entries:
            for content in entry.get("content", []):
                assert active_content(content.value) == []
    for path in sorted(out.rglob("feed.json")):
        json.loads(path.read_text(encoding="utf-8"))


def _row(article: Article, i: int) -> dict[str, Any]:
    """An import row; every other URL gets a suffix so near-duplicates are stored too."""
    row = _fields(article)
    del row["id"]
    row["url"] = f"{article.url}#{i}" if i % 2 else article.url
    row["priority"], row["status"] = int(article.priority), str(article.status)
    return row
