"""The feed-format registry: every format's check reads back what the build wrote, and a
format added with one module and one registry line is configured, built, published,
served with its type and removed, with no other edit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feedkit import PUBLIC_URL, load_rows, make_settings, row
from starlette.testclient import TestClient
from support import NOW, FakeClock

from pressroom.errors import ConfigError
from pressroom.feeds import build_feeds
from pressroom.feeds.formats import FeedFormat, feed_format, register, registered, unregister
from pressroom.feeds.items import FeedItem, FeedMeta
from pressroom.store.engine import Store, open_store
from pressroom.web import create_app
from pressroom.wiring import check_feed_formats, feed_config, load_runtime


def render_tsv(meta: FeedMeta, items: list[FeedItem]) -> bytes:
    """A throwaway format: one line per entry, its link and title."""
    lines = [f"# {meta.title}\t{meta.self_urls['tsv']}"]
    lines += [f"{item.link}\t{item.title}" for item in items]
    return ("\n".join(lines) + "\n").encode("utf-8")


def check_tsv(document: bytes) -> list[str]:
    """The links of a :func:`render_tsv` document, in order."""
    header, *entries = document.decode("utf-8").splitlines()
    if not header.startswith("# "):
        raise ValueError("no header line")
    return [line.split("\t", 1)[0] for line in entries]


TSV = FeedFormat(
    "tsv",
    "feed.tsv",
    "text/tab-separated-values",
    "TSV",
    render_tsv,
    check_tsv,
    "text/tab-separated-values; charset=utf-8",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    load_rows(store, [row(1, "tiyu"), row(2, "shehui"), row(3, "tiyu")])
    yield store
    store.dispose()


@pytest.fixture
def tsv() -> Iterator[FeedFormat]:
    register(TSV)
    try:
        yield TSV
    finally:
        unregister(TSV.name)


def test_each_registered_format_reads_back_the_same_entries_from_what_the_build_wrote(
    tmp_path: Path, store: Store
) -> None:
    config = feed_config(make_settings(tmp_path))
    report = build_feeds(config, store, now=NOW)
    assert report.ok
    out = config.output_dir
    for folder, expected in [
        ("all", ["tiyu/1", "shehui/2", "tiyu/3"]),
        ("tiyu", ["tiyu/1", "tiyu/3"]),
        ("shehui", ["shehui/2"]),
    ]:
        for fmt in registered():
            links = fmt.check((out / folder / fmt.file_name).read_bytes())
            assert links == [f"https://news.example.cn/{path}.html" for path in expected], (
                f"{folder}/{fmt.file_name}"
            )


def test_each_check_refuses_what_is_not_its_format() -> None:
    for fmt in registered():
        other = next(f for f in registered() if f is not fmt)
        document = other.render(_meta(), [])
        with pytest.raises(ValueError):
            fmt.check(document)
        with pytest.raises(ValueError):
            fmt.check(b"\xff not a feed")


def test_a_registered_format_is_built_published_served_and_removed_when_it_goes_away(
    tmp_path: Path, store: Store, tsv: FeedFormat
) -> None:
    settings = make_settings(tmp_path, formats=["rss", "tsv"])
    check_feed_formats(settings)  # the configuration accepts it: it is registered
    config = feed_config(settings)
    report = build_feeds(config, store, now=NOW)
    out = config.output_dir
    assert report.ok and "all/feed.tsv" in report.written and "tiyu/feed.tsv" in report.written
    assert not (out / "all" / "atom.xml").exists()  # only what is configured is written
    tiyu = (out / "tiyu" / "feed.tsv").read_bytes()
    assert tiyu.startswith(f"# 测试新闻网 · 体育\t{PUBLIC_URL}tiyu/feed.tsv\n".encode())
    assert tsv.check(tiyu) == [f"https://news.example.cn/tiyu/{n}.html" for n in (1, 3)]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<a href="tiyu/feed.tsv" type="text/tab-separated-values">TSV</a>' in index
    opml = (out / "feeds.opml").read_text(encoding="utf-8")
    assert f'xmlUrl="{PUBLIC_URL}tiyu/rss.xml"' in opml  # rss comes first in the registry

    app = create_app(settings, store, FakeClock(NOW))
    with TestClient(app) as client:
        served = client.get("/tiyu/feed.tsv")
    assert served.status_code == 200 and served.content == tiyu
    assert served.headers["content-type"] == "text/tab-separated-values; charset=utf-8"

    fewer = feed_config(make_settings(tmp_path, formats=["rss"]))
    again = build_feeds(fewer, store, now=NOW)
    assert "tiyu/feed.tsv" in again.removed and not (out / "tiyu" / "feed.tsv").exists()
    assert "feed.tsv" not in (out / "index.html").read_text(encoding="utf-8")


def test_a_format_that_is_not_registered_is_a_one_line_config_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, formats=["rss", "tsv"])
    with pytest.raises(ConfigError) as caught:
        load_runtime(settings.source)
    assert caught.value.problems == [
        f"{settings.source}: feeds.formats[1]: unknown feed format 'tsv' "
        "(known: 'rss', 'atom', 'json')"
    ]
    with pytest.raises(ConfigError):
        feed_config(settings)


def test_a_name_or_file_is_registered_once(tsv: FeedFormat) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(TSV)
    with pytest.raises(ValueError, match="already registered"):
        register(FeedFormat("rss2", "rss.xml", "application/rss+xml", "RSS", render_tsv, check_tsv))
    assert feed_format("rss").file_name == "rss.xml"


def _meta() -> FeedMeta:
    return FeedMeta(
        name="all",
        title="测试新闻网 · 全部文章",
        section_name="全部文章",
        description="测试",
        home_url="https://news.example.cn/",
        site_url="https://news.example.cn/",
        self_urls={f.name: f"{PUBLIC_URL}all/{f.file_name}" for f in registered()},
        language="zh-CN",
        generator="pressroom",
        generator_version="0",
        generator_uri="https://pypi.org/project/pressroom/",
        site_name="测试新闻网",
        ttl=60,
        hubs=(),
        updated=NOW,
    )
