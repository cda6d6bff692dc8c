"""Change-aware publishing: what a rebuild writes, keeps and removes."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import pytest
from feedkit import feed_files, load_rows, make_config, parse_feed, row
from sqlalchemy import event
from support import NOW

from pressroom.errors import JobFailed
from pressroom.feeds import FeedConfig, build_feeds, clear_caches, fastpath
from pressroom.store.engine import Store
from pressroom.store.feed_state import load_fingerprints


def _rows() -> list[dict[str, object]]:
    """Three 社会 and two 体育 articles; the second is a headline with many views."""
    rows = [row(n, "shehui") for n in range(1, 4)] + [row(n, "tiyu") for n in range(4, 6)]
    rows[1].update(priority=2, views=6000)
    return rows


def _without_gzip_siblings(files: dict[str, tuple[bytes, int]]) -> list[str]:
    return [path for path in files if not path.endswith(".gz")]


def _out(config: FeedConfig) -> Path:
    return config.output_dir


def _count_queries(store: Store) -> list[str]:
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    return seen


def test_first_build_writes_feeds_opml_and_index(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, _rows())
    report = build_feeds(feed_config, small_store, now=NOW)
    assert report.ok and report.feeds == 4
    names = sorted({path.split("/")[0] for path in report.written if "/" in path})
    assert names == ["all", "important", "shehui", "tiyu"]
    important = parse_feed(_out(feed_config) / "important" / "rss.xml").entries
    assert [e.link for e in important] == ["https://news.example.cn/shehui/2.html"]
    assert "feeds.opml" in report.written and "index.html" in report.written
    assert report.summary().startswith(f"feeds: {len(report.written)} written, 0 kept")


def test_a_no_change_rebuild_writes_nothing(store: Store, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    load_rows(store, _rows())
    build_feeds(config, store, now=NOW)
    before = feed_files(_out(config))
    fastpath.forget(store, _out(config))  # as a new process would
    again = build_feeds(config, store, now=NOW + timedelta(minutes=5))
    assert again.written == [] and again.removed == []
    assert sorted(again.kept) == sorted(_without_gzip_siblings(before))
    assert feed_files(_out(config)) == before
    assert "kept    " in "\n".join(again.lines())


def test_a_new_process_keeps_everything_when_nothing_changed(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    before = feed_files(_out(feed_config))
    fastpath.forget(small_store, _out(feed_config))
    clear_caches()  # a new process starts with nothing in memory
    report = build_feeds(feed_config, small_store, now=NOW)
    assert report.ok and report.written == []
    assert len(report.kept) == len(_without_gzip_siblings(before))
    assert feed_files(_out(feed_config)) == before
    (_out(feed_config) / "index.html").unlink()
    fastpath.forget(small_store, _out(feed_config))
    clear_caches()
    assert build_feeds(feed_config, small_store, now=NOW).written == ["index.html"]
    after = feed_files(_out(feed_config))
    assert after.pop("index.html")[0] == before.pop("index.html")[0]  # same page again
    assert after == before


def test_the_fingerprint_path_costs_a_constant_number_of_queries(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, [row(n, "shehui") for n in range(1, 40)])
    build_feeds(feed_config, small_store, now=NOW)
    fastpath.forget(small_store, _out(feed_config))
    statements = _count_queries(small_store)
    build_feeds(feed_config, small_store, now=NOW)
    few = len(statements)
    load_rows(small_store, [row(n, "tiyu") for n in range(40, 140)])
    build_feeds(feed_config, small_store, now=NOW)
    fastpath.forget(small_store, _out(feed_config))
    statements.clear()
    build_feeds(feed_config, small_store, now=NOW)
    assert len(statements) == few <= 10  # the same few queries, whatever the store holds
    assert not any(
        s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for s in statements
    )


def test_the_in_process_fast_path_queries_nothing(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    build_feeds(feed_config, small_store, now=NOW)  # no writes: leaves the memo
    statements = _count_queries(small_store)
    report = build_feeds(feed_config, small_store, now=NOW)
    assert statements == []
    assert report.written == [] and len(report.kept) == 4 * 3 + 2


def test_the_fast_path_notices_a_commit_from_this_process(store: Store, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    load_rows(store, _rows())
    build_feeds(config, store, now=NOW)
    build_feeds(config, store, now=NOW)  # wrote nothing: may leave the memo
    load_rows(store, [row(0, "tiyu", title="刚刚发布")])
    report = build_feeds(config, store, now=NOW)
    assert "tiyu/rss.xml" in report.written and "all/atom.xml" in report.written
    assert "shehui/rss.xml" in report.kept
    assert parse_feed(_out(config) / "tiyu" / "rss.xml").entries[0].title == "刚刚发布"


def test_a_future_article_appears_when_its_time_comes(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, [*_rows(), row(-2, "shehui", title="未来的新闻")])
    build_feeds(feed_config, small_store, now=NOW)
    build_feeds(feed_config, small_store, now=NOW)
    titles = [e.title for e in parse_feed(_out(feed_config) / "all" / "rss.xml").entries]
    assert "未来的新闻" not in titles
    report = build_feeds(feed_config, small_store, now=NOW + timedelta(hours=3))
    assert "shehui/rss.xml" in report.written
    titles = [e.title for e in parse_feed(_out(feed_config) / "all" / "rss.xml").entries]
    assert titles[0] == "未来的新闻"


def test_drafts_and_deleted_articles_are_left_out(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, [*_rows(), row(6, "shehui", status="draft"), row(7, status="deleted")])
    build_feeds(feed_config, small_store, now=NOW)
    links = [e.link for e in parse_feed(_out(feed_config) / "all" / "atom.xml").entries]
    assert len(links) == 5 and not any(link.endswith(("/6.html", "/7.html")) for link in links)


def test_editing_an_article_rewrites_its_feeds_and_keeps_its_id(
    store: Store, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    load_rows(store, _rows())
    build_feeds(config, store, now=NOW)
    before = parse_feed(_out(config) / "tiyu" / "atom.xml").entries[0].id
    load_rows(store, [row(4, "tiyu", title="改过的标题", updated_at=NOW)])
    report = build_feeds(config, store, now=NOW)
    assert sorted(p for p in report.written if p.startswith("tiyu/")) == [
        "tiyu/atom.xml",
        "tiyu/feed.json",
        "tiyu/rss.xml",
    ]
    assert not any(p.startswith("shehui/") for p in report.written)
    entry = parse_feed(_out(config) / "tiyu" / "atom.xml").entries[0]
    assert (entry.id, entry.title) == (before, "改过的标题")


def test_a_section_that_lost_its_articles_loses_its_folder_and_entries(
    store: Store, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    load_rows(store, _rows())
    build_feeds(config, store, now=NOW)
    load_rows(store, [row(n, "tiyu", status="deleted") for n in (4, 5)])
    report = build_feeds(config, store, now=NOW)
    assert sorted(report.removed) == ["tiyu/atom.xml", "tiyu/feed.json", "tiyu/rss.xml"]
    assert not (_out(config) / "tiyu").exists()
    assert "feeds.opml" in report.written and "index.html" in report.written
    assert b"tiyu" not in (_out(config) / "feeds.opml").read_bytes()
    assert b"tiyu/" not in (_out(config) / "index.html").read_bytes()
    with store.read() as conn:
        names = set(load_fingerprints(conn))
    assert "tiyu" not in names and "shehui" in names
    assert any(line == "removed tiyu/rss.xml" for line in report.lines())


def test_missing_files_are_written_again(feed_config: FeedConfig, small_store: Store) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    (_out(feed_config) / "shehui" / "atom.xml").unlink()
    (_out(feed_config) / "index.html").unlink()
    report = build_feeds(feed_config, small_store, now=NOW)
    assert sorted(report.written) == ["index.html", "shehui/atom.xml"]


def test_force_renders_everything_but_rewrites_only_changed_bytes(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    before = feed_files(_out(feed_config))
    report = build_feeds(feed_config, small_store, now=NOW, force=True)
    assert report.written == [] and len(report.kept) == len(_without_gzip_siblings(before))
    assert feed_files(_out(feed_config)) == before


def test_dropping_a_format_removes_its_files(tmp_path: Path, small_store: Store) -> None:
    config = make_config(tmp_path)
    load_rows(small_store, _rows())
    build_feeds(config, small_store, now=NOW)
    fewer = make_config(tmp_path, formats=["atom"])
    report = build_feeds(fewer, small_store, now=NOW)
    assert "all/rss.xml" in report.removed and "all/feed.json" in report.removed
    assert sorted(p.name for p in (_out(fewer) / "all").iterdir()) == ["atom.xml", "atom.xml.gz"]
    assert b"all/atom.xml" in (_out(fewer) / "feeds.opml").read_bytes()


def test_no_temporary_files_are_left_behind(feed_config: FeedConfig, small_store: Store) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    load_rows(small_store, [row(0, "shehui")])
    build_feeds(feed_config, small_store, now=NOW)
    assert not [p for p in _out(feed_config).rglob("*") if p.name.endswith(".tmp")]


def test_other_files_in_the_output_folder_survive(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    (_out(feed_config) / "tiyu" / "README.txt").write_text("mine", encoding="utf-8")
    load_rows(small_store, [row(n, "tiyu", status="draft") for n in (4, 5)])
    build_feeds(feed_config, small_store, now=NOW)
    assert sorted(p.name for p in (_out(feed_config) / "tiyu").iterdir()) == ["README.txt"]


@pytest.mark.parametrize("items", [1, 2])
def test_items_per_feed_is_configurable(tmp_path: Path, small_store: Store, items: int) -> None:
    config = make_config(tmp_path, items=items)
    load_rows(small_store, _rows())
    build_feeds(config, small_store, now=NOW)
    assert len(parse_feed(_out(config) / "shehui" / "rss.xml").entries) == items


def test_duplicate_articles_appear_once(
    feed_config: FeedConfig, small_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    spaced = row(2, "shehui", url=" https://news.example.cn/shehui/1.html ")
    load_rows(small_store, [row(1, "shehui"), spaced])
    with caplog.at_level("WARNING", "pressroom.feeds"):
        build_feeds(feed_config, small_store, now=NOW)
    links = [e.link for e in parse_feed(_out(feed_config) / "shehui" / "atom.xml").entries]
    assert links == ["https://news.example.cn/shehui/1.html"]
    assert "shehui/1.html: left out of shehui: a duplicate" in caplog.text


def test_an_output_folder_that_cannot_be_made_is_one_clear_error(
    tmp_path: Path, small_store: Store
) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    config = make_config(tmp_path, output_dir="taken/public")
    load_rows(small_store, _rows())
    with pytest.raises(JobFailed, match=r"feeds build: cannot write .*taken"):
        build_feeds(config, small_store, now=NOW)


def test_a_feed_that_fails_to_render_is_reported_and_the_others_are_built(
    feed_config: FeedConfig, small_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressroom.feeds import build as build_module

    real = build_module._render

    def broken(fmt: str, meta: object, items: object) -> bytes:
        if getattr(meta, "name", "") == "tiyu":
            raise ValueError("boom")
        return real(fmt, meta, items)  # type: ignore[arg-type]

    load_rows(small_store, _rows())
    monkeypatch.setattr(build_module, "_render", broken)
    report = build_feeds(feed_config, small_store, now=NOW)
    assert report.failed == ["tiyu: ValueError: boom"] and not report.ok
    assert "shehui/rss.xml" in report.written
    assert not (_out(feed_config) / "tiyu").exists()
    assert b"tiyu/" not in (_out(feed_config) / "index.html").read_bytes()
    monkeypatch.setattr(build_module, "_render", real)
    again = build_feeds(feed_config, small_store, now=NOW)
    assert again.ok and sorted(p for p in again.written if p.startswith("tiyu/")) == [
        "tiyu/atom.xml",
        "tiyu/feed.json",
        "tiyu/rss.xml",
    ]


def test_feeds_and_the_opml_have_gzip_siblings_kept_in_step(
    feed_config: FeedConfig, small_store: Store
) -> None:
    load_rows(small_store, _rows())
    build_feeds(feed_config, small_store, now=NOW)
    out = _out(feed_config)
    siblings = sorted(str(p.relative_to(out)) for p in out.rglob("*.gz"))
    feeds = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.suffix in (".xml", ".json"))
    assert siblings == sorted([f"{f}.gz" for f in feeds] + ["feeds.opml.gz"])
    for name in siblings:
        sibling, plain = out / name, out / name.removesuffix(".gz")
        assert gzip.decompress(sibling.read_bytes()) == plain.read_bytes()
        assert sibling.stat().st_mtime_ns == plain.stat().st_mtime_ns  # one Last-Modified
    (out / "all" / "rss.xml.gz").unlink()
    (out / "tiyu" / "atom.xml.gz").unlink()
    load_rows(small_store, [row(0, "shehui")])
    report = build_feeds(feed_config, small_store, now=NOW)
    assert "shehui/rss.xml" in report.written and "all/rss.xml" in report.written
    assert not (out / "tiyu" / "atom.xml.gz").exists()  # unchanged feeds are not looked at
    forced = build_feeds(feed_config, small_store, now=NOW, force=True)
    assert "tiyu/atom.xml" in forced.kept  # the same bytes, but the missing sibling is back
    for name in ("shehui/rss.xml", "all/rss.xml", "tiyu/atom.xml"):
        sibling = out / f"{name}.gz"
        assert gzip.decompress(sibling.read_bytes()) == (out / name).read_bytes()
