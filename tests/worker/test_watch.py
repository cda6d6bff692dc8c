"""The feeds watch in process, on a real store and the real build: a burst of commits is
one build and one ``watch`` run; commits that touch no feed, and quiet, build nothing; a
future-dated article is published when it falls due; ``watch = "0"`` is off."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import support
from feedkit import SECTIONS, load_rows, make_settings, row
from sqlalchemy import select
from storekit import add_subscriber

from pressroom.clock import system_clock
from pressroom.feeds import FeedBuildReport, FeedConfig, build_feeds
from pressroom.store import runs
from pressroom.store.articles import sync_sections, upsert_articles
from pressroom.store.engine import Store, open_store
from pressroom.store.notify import notify_articles
from pressroom.store.schema import job_runs
from pressroom.worker.logs import JsonFormatter
from pressroom.worker.registry import Jobs
from pressroom.worker.scheduler import job_runner
from pressroom.worker.watch import WATCH_SCHEDULE, FeedsWatch


@dataclass
class CountingBuild:
    """The real feeds build, counted."""

    reports: list[FeedBuildReport] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, config: FeedConfig, store: Store, *, now: datetime, force: bool = False
    ) -> FeedBuildReport:
        report = build_feeds(config, store, now=now, force=force)
        with self.lock:
            self.reports.append(report)
        return report


async def _no_digest(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the watch never sends a digest")


def _no_bounces(*_args: Any) -> Any:
    raise AssertionError("the watch never processes bounces")


def _jobs(build: CountingBuild) -> Jobs:
    return Jobs(build, _no_digest, _no_bounces)


def _recent(n: int, section: str = "tiyu", **fields: Any) -> dict[str, Any]:
    published = datetime.now(UTC) - timedelta(minutes=n + 1)
    return row(n, section, published_at=published, updated_at=published, **fields)


def _watch_runs(store: Store) -> list[tuple[str, str, str]]:
    with store.read() as conn:
        found = conn.execute(select(job_runs.c.schedule, job_runs.c.trigger, job_runs.c.outcome))
        return [tuple(r) for r in found if r.trigger == "watch"]  # type: ignore[misc]


async def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s"
        await asyncio.sleep(0.02)


def _watching(
    tmp_path: Path, scenario: Callable[[FeedsWatch, Store, CountingBuild, Path], Awaitable[None]]
) -> None:
    settings = make_settings(tmp_path, watch="0.1s")
    store = open_store(settings.store_url)
    build = CountingBuild()
    runner = job_runner(settings, store, system_clock, "test:1:watch", _jobs(build))

    async def run() -> None:
        watch = FeedsWatch.start(runner)
        assert watch is not None and watch.interval == pytest.approx(0.1)
        try:
            await scenario(watch, store, build, runner.config.feeds.output_dir)
        finally:
            await watch.stop()

    try:
        asyncio.run(run())
    finally:
        store.dispose()


@pytest.mark.slow
def test_a_burst_of_commits_is_one_build_and_one_watch_run(tmp_path: Path) -> None:
    async def scenario(watch: FeedsWatch, store: Store, build: CountingBuild, out: Path) -> None:
        load_rows(store, [_recent(10)])
        await _until(lambda: (out / "tiyu" / "rss.xml").is_file(), 5)
        await asyncio.sleep(0.6)
        builds, recorded = len(build.reports), _watch_runs(store)
        assert recorded == [(WATCH_SCHEDULE, "watch", "ok")]
        for n in range(1, 6):  # five commits, 50 ms apart
            await asyncio.to_thread(load_rows, store, [_recent(n)])
            await asyncio.sleep(0.05)
        await _until(lambda: b"/tiyu/5.html" in (out / "all" / "rss.xml").read_bytes(), 5)
        await asyncio.sleep(0.8)
        assert len(build.reports) == builds + 1
        assert _watch_runs(store) == [*recorded, (WATCH_SCHEDULE, "watch", "ok")]
        text = (out / "tiyu" / "rss.xml").read_bytes()
        assert all(f"/tiyu/{n}.html".encode() in text for n in range(1, 6))

    _watching(tmp_path, scenario)


@pytest.mark.slow
def test_quiet_and_commits_that_touch_no_feed_build_nothing(tmp_path: Path) -> None:
    async def scenario(watch: FeedsWatch, store: Store, build: CountingBuild, out: Path) -> None:
        load_rows(store, [_recent(1)])
        await _until(lambda: (out / "index.html").is_file(), 5)
        await asyncio.sleep(0.6)
        builds, recorded = len(build.reports), _watch_runs(store)
        stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        now = datetime.now(UTC)
        with store.write() as conn:  # a subscriber, a lease: commits, but no feed changed
            add_subscriber(conn, "reader@example.com", now=now)
        with store.write() as conn:
            runs.acquire_lease(conn, "other", "someone", ttl=timedelta(seconds=5))
        await asyncio.sleep(1.0)
        assert len(build.reports) == builds and _watch_runs(store) == recorded
        assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    _watching(tmp_path, scenario)


@pytest.mark.slow
def test_a_future_article_is_published_when_it_falls_due(tmp_path: Path) -> None:
    async def scenario(watch: FeedsWatch, store: Store, build: CountingBuild, out: Path) -> None:
        # due well after the first build, even on a loaded machine (seen: a 1.5 s margin lost)
        due = datetime.now(UTC) + timedelta(seconds=5)
        load_rows(store, [_recent(1), row(7, "tiyu", published_at=due, updated_at=due)])
        await _until(lambda: (out / "tiyu" / "rss.xml").is_file(), 5)
        assert b"/tiyu/7.html" not in (out / "tiyu" / "rss.xml").read_bytes()
        await _until(lambda: b"/tiyu/7.html" in (out / "tiyu" / "rss.xml").read_bytes(), 8)
        assert datetime.now(UTC) >= due

    _watching(tmp_path, scenario)


def test_watch_0_is_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, watch="0")
    store = open_store(settings.store_url)
    runner = job_runner(settings, store, system_clock, "t:1:x", _jobs(CountingBuild()))

    async def start() -> FeedsWatch | None:
        return FeedsWatch.start(runner)

    try:
        assert asyncio.run(start()) is None
    finally:
        store.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_on_postgresql_a_notify_wakes_the_watch_before_its_next_poll(
    tmp_path: Path, pg_url: str
) -> None:
    settings = support.make_settings(
        tmp_path,
        site={"name": "测试新闻网", "base_url": "https://news.example.cn/"},
        store={"url": pg_url},
        feeds={"public_url": "https://feeds.example.cn/", "watch": "30s"},
    )
    store = open_store(settings.store_url)
    runner = job_runner(settings, store, system_clock, "t:1:pg", _jobs(CountingBuild()))
    out = runner.config.feeds.output_dir

    async def scenario() -> float:
        watch = FeedsWatch.start(runner)
        assert watch is not None and watch.listener is not None
        try:
            await asyncio.to_thread(watch.listener.listening.wait, 10)
            await asyncio.sleep(0.5)  # the first look (nothing to build) is done
            with store.write() as conn:
                sync_sections(conn, SECTIONS)
                upsert_articles(conn, [_recent(1)], datetime.now(UTC))
                notify_articles(conn)
            started = time.monotonic()
            await _until(lambda: (out / "tiyu" / "rss.xml").is_file(), 5)
            return time.monotonic() - started
        finally:
            await watch.stop()

    try:
        assert asyncio.run(scenario()) < 5  # the next poll would be 30 s away
    finally:
        store.dispose()


@pytest.mark.slow
def test_a_failing_build_is_recorded_once_then_retried_after_a_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pressroom.worker.watch.FAILED_PAUSE", 1.5)

    async def scenario(watch: FeedsWatch, store: Store, build: CountingBuild, out: Path) -> None:
        await _until(lambda: len(_watch_runs(store)) == 1, 5)
        [(_schedule, _trigger, outcome)] = _watch_runs(store)
        assert outcome == "failed"  # the output folder is a file: nothing can be written
        await asyncio.sleep(0.8)
        assert len(_watch_runs(store)) == 1  # no build, no row, every interval meanwhile
        out.unlink()
        await _until(lambda: len(_watch_runs(store)) == 2, 5)
        assert _watch_runs(store)[-1] == (WATCH_SCHEDULE, "watch", "ok")
        assert (out / "tiyu" / "rss.xml").is_file()

    root = tmp_path
    settings = make_settings(root, watch="0.1s")
    store = open_store(settings.store_url)
    load_rows(store, [_recent(1)])
    store.dispose()
    out = root / "public"
    out.write_text("not a folder")
    _watching(root, scenario)


@pytest.mark.slow
def test_the_log_line_names_the_trigger_as_the_store_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22: the JSON log called a watch build's trigger ``schedule``; the store ``watch``."""
    caplog.set_level(logging.INFO, logger="pressroom")
    stored: list[tuple[str, str, str]] = []

    async def scenario(watch: FeedsWatch, store: Store, build: CountingBuild, out: Path) -> None:
        load_rows(store, [_recent(10)])
        await _until(lambda: bool(_watch_runs(store)), 5)
        stored.extend(_watch_runs(store))

    _watching(tmp_path, scenario)
    logged = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if hasattr(record, "job_run")
    ]
    assert stored == [(WATCH_SCHEDULE, "watch", "ok")]
    assert [(line["schedule"], line["trigger"]) for line in logged] == [(WATCH_SCHEDULE, "watch")]
