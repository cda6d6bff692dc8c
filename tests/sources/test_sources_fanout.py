"""A large full pass shared out to helper processes (pressroom.sources.fanout).

Against the real MariaDB and both stores: a pass read by helpers writes exactly what a
pass in one process writes (articles, hashes, counts, messages), and a reconcile pass
read by helpers withdraws what is gone and keeps what is bad. With a reader held in
memory (fanoutkit): a helper that fails hands back one sentence, one that is killed stops
the sync with one sentence, an error that cannot travel is described, and without a fork
server the pass runs here. No helper outlives its sync (the autouse fixture fails a test
that leaves a process running).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
from fanoutkit import HOME as MEMORY_HOME
from fanoutkit import MemoryRanges
from storekit import article_rows
from support import SHANGHAI, FakeClock
from wpkit import WordPress, wordpress_with

from pressroom.config import WordPressSourceSettings
from pressroom.errors import SourceError, SourceUnavailable
from pressroom.importer import RowParser
from pressroom.models import Section
from pressroom.sources import fanout, sync
from pressroom.sources.service import SourceSpec, section_keys, sync_one
from pressroom.sources.sync import SyncPolicy, SyncReport, sync_source
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store, open_store
from pressroom.store.sources import known_hashes

SECTIONS = [Section("domestic", "国内", 1.0), Section("world", "国际", 1.0)]
HOME = "https://blog.example.cn"


@pytest.fixture
def wp() -> Iterator[WordPress]:
    with wordpress_with({"guonei": "国内", "guoji": "国际", "weifenlei": "未分类"}) as site:
        yield site


@pytest.fixture
def helpers_used(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Helpers for any full pass (not only large ones); records each pass they read."""
    monkeypatch.setattr(fanout, "HELPERS_FROM", 1)
    monkeypatch.setattr(fanout, "_helper_count", lambda: 3)
    used: list[int] = []
    real = fanout.start_helpers

    def recorded(*args: Any, **kwargs: Any) -> Any:
        used.append(len(args[4]))  # the ranges shared out
        return real(*args, **kwargs)

    monkeypatch.setattr(sync, "start_helpers", recorded)
    return used


def with_sections(store: Store) -> Store:
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
    return store


def spec_for(wp: WordPress) -> SourceSpec:
    settings = WordPressSourceSettings.model_validate(
        {
            "kind": "wordpress",
            "url": wp.engine.url.render_as_string(hide_password=False),
            "home": HOME,
            "views_meta_key": "views",
            "batch": 2,  # ranges of 10 IDs, of five batches each: many of both
        }
    )
    return SourceSpec("blog", settings, settings.url, SHANGHAI)


def run(spec: SourceSpec, store: Store, clock: FakeClock, *, full: bool = False) -> SyncReport:
    bad: list[str] = []
    report = sync_one(spec, store, clock, full=full, report_bad=bad.append)
    report.bad_lines = sorted(bad)  # type: ignore[attr-defined]
    return report


def a_site(wp: WordPress, posts: int = 60) -> dict[str, int]:
    """Posts of every kind the pass must treat alike: sections, no section, drafts,
    trash, sticky, views, bad titles, duplicate slugs."""
    ids: dict[str, int] = {}
    for n in range(posts):
        category = ("guonei", "guoji", "weifenlei")[n % 3]
        status = "draft" if n % 11 == 5 else "trash" if n % 13 == 7 else "publish"
        title = "   " if n % 17 == 3 else "带\x00空字符" if n == 40 else f"第{n}篇新闻"
        post = wp.post(title, categories=(category,), status=status, slug=f"s{n}")
        ids[f"post{n}"] = post
        if n % 4 == 0:
            wp.meta(post, "views", str(n * 100))
    wp.sticky(ids["post1"], ids["post10"])
    return ids


def stored(store: Store) -> tuple[list[dict[str, object]], dict[str, str]]:
    rows = sorted(({k: v for k, v in r.items() if k != "id"} for r in article_rows(store)), key=str)
    with store.read() as conn:
        hashes = known_hashes(conn, "blog", [str(r["url"]) for r in rows])
    return rows, hashes


def test_helpers_write_what_one_process_writes(
    wp: WordPress, store: Store, tmp_path: Any, clock: FakeClock, helpers_used: list[int]
) -> None:
    a_site(wp)
    spec = spec_for(wp)
    here = with_sections(open_store(f"sqlite:///{tmp_path / 'here.db'}"))
    try:
        fanout_off = pytest.MonkeyPatch()
        fanout_off.setattr(fanout, "HELPERS_FROM", 10**9)
        alone = run(spec, here, clock)
        fanout_off.undo()
        assert helpers_used == []

        shared = run(spec, with_sections(store), clock)

        assert helpers_used and helpers_used[0] > 3  # several ranges for three helpers
        assert stored(store) == stored(here)
        assert len(stored(store)[0]) == alone.counts.inserted > 20
        for field in ("rows", "bad", "unchanged", "withdrawn", "skipped", "counts", "full"):
            assert getattr(shared, field) == getattr(alone, field), field
        assert shared.bad_lines == alone.bad_lines  # type: ignore[attr-defined]
        assert any("title contains a NUL character" in line for line in shared.bad_lines)  # type: ignore[attr-defined]
    finally:
        here.dispose()


def test_a_reconcile_by_helpers_withdraws_the_gone_and_keeps_the_bad(
    wp: WordPress, store: Store, clock: FakeClock, helpers_used: list[int]
) -> None:
    ids = a_site(wp, posts=30)
    spec = spec_for(wp)
    with_sections(store)
    first = run(spec, store, clock)
    wp.delete(ids["post6"])  # deleted outright
    wp.edit(ids["post4"], None, post_title="")  # now a bad row: still in the CMS

    clock.advance(seconds=30)
    again = run(spec, store, clock, full=True)

    assert len(helpers_used) == 2
    rows = {row["url"]: row for row in article_rows(store)}
    assert rows[f"{HOME}/?p={ids['post6']}"]["status"] == "deleted"
    assert rows[f"{HOME}/?p={ids['post4']}"]["status"] == "published"  # kept as it was
    assert again.withdrawn == 1 and again.counts.inserted == 0
    assert again.unchanged == first.counts.inserted - 2
    assert f"source blog: row id={ids['post4']}: title is empty" in again.bad_lines  # type: ignore[attr-defined]


def test_a_source_that_fails_in_a_helper_is_one_sentence(
    wp: WordPress, sqlite_store: Store, clock: FakeClock, helpers_used: list[int]
) -> None:
    a_site(wp, posts=20)
    wp.run("DROP TABLE {p}term_relationships")  # every helper's query now fails

    with pytest.raises(SourceError) as caught:
        run(spec_for(wp), with_sections(sqlite_store), clock)

    message = str(caught.value)
    assert message.startswith("source blog: the database refused the query:")
    assert "term_relationships" in message and "\n" not in message and "SELECT" not in message
    assert helpers_used


def memory_sync(store: Store, reader: MemoryRanges, clock: FakeClock) -> SyncReport:
    parser = RowParser(section_keys(SECTIONS), SHANGHAI)
    return sync_source(
        SyncPolicy("memory"), reader, parser, with_sections(store), clock, report_bad=print
    )


def test_the_memory_reader_is_shared_out_and_written_whole(
    sqlite_store: Store, clock: FakeClock, helpers_used: list[int]
) -> None:
    report = memory_sync(sqlite_store, MemoryRanges(posts=200), clock)

    assert helpers_used == [8]  # ranges of 25 IDs (five batches of five)
    assert report.counts.inserted == 200
    assert {row["url"] for row in article_rows(sqlite_store)} == {
        f"{MEMORY_HOME}/{n}" for n in range(1, 201)
    }


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("unreachable", "source memory: cannot read memory://: gone"),
        (
            "kill",
            "source memory: a helper process syncing the source's rows stopped (exit code -9)",
        ),
        ("unpicklable", "source memory: a helper process failed: Unpicklable"),
    ],
)
def test_a_helper_that_fails_stops_the_sync_with_one_sentence(
    sqlite_store: Store, clock: FakeClock, helpers_used: list[int], action: str, expected: str
) -> None:
    reader = MemoryRanges(posts=400, trap=333, action=action)

    with pytest.raises(SourceError) as caught:
        memory_sync(sqlite_store, reader, clock)

    assert str(caught.value).startswith(expected)
    assert isinstance(caught.value, SourceUnavailable) == (action == "unreachable")
    # what the helpers wrote before the failure stays written, and is not all of it
    assert 0 < len(article_rows(sqlite_store)) < 400


def test_a_helper_that_exits_untidily_after_its_last_batch_costs_nothing(
    sqlite_store: Store, clock: FakeClock, helpers_used: list[int]
) -> None:
    report = memory_sync(sqlite_store, MemoryRanges(posts=300, action="close fails"), clock)

    assert helpers_used and report.counts.inserted == 300
    assert len(article_rows(sqlite_store)) == 300


def test_without_a_fork_server_the_pass_runs_here(
    sqlite_store: Store, clock: FakeClock, helpers_used: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_context(method: str) -> Any:
        raise ValueError(f"cannot find context for {method!r}")

    monkeypatch.setattr(multiprocessing, "get_context", no_context)
    reader = MemoryRanges(posts=60, trap=33, action="kill")  # would kill a helper, not this

    report = memory_sync(sqlite_store, reader, clock)

    assert helpers_used == [3] and report.counts.inserted == 60
