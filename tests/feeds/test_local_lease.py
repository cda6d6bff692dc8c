"""``[feeds] lease = "local"``: each machine builds its own folder from one store; the
same store gives the same bytes, and builders never undo each other's work."""

from __future__ import annotations

import asyncio
from pathlib import Path

from feedkit import load_rows, row
from support import NOW, FakeClock
from support import make_settings as make_site_settings

from pressroom.feeds import FeedConfig, build_feeds
from pressroom.feeds.build import needs_build
from pressroom.feeds.local_state import STATE_FILE
from pressroom.models import JobKind
from pressroom.store.engine import Store
from pressroom.store.feed_state import load_fingerprints
from pressroom.wiring import feed_config
from pressroom.worker.jobs import JobResult, JobRunner
from pressroom.worker.lease import FEEDS_LEASE, feeds_lease_name
from pressroom.worker.registry import Jobs, WorkerConfig, manual_job


def _config(root: Path, store_url: str, lease: str = "local") -> FeedConfig:
    root.mkdir()
    settings = make_site_settings(
        root,
        site={"name": "测试新闻网", "base_url": "https://news.example.cn/"},
        store={"url": store_url},
        feeds={"public_url": "https://feeds.example.cn/", "lease": lease},
    )
    return feed_config(settings)


def _unused(*_args: object, **_kwargs: object) -> object:
    raise AssertionError("only the feeds job runs here")


def _published(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != STATE_FILE
    }


def test_two_local_builders_over_one_store_write_byte_identical_folders(
    tmp_path: Path, store: Store, store_url: str
) -> None:
    one, two = _config(tmp_path / "web1", store_url), _config(tmp_path / "web2", store_url)
    load_rows(store, [row(n, ("yaowen", "shehui", "tiyu")[n % 3]) for n in range(1, 9)])
    for config in (one, two):
        assert build_feeds(config, store, now=NOW).written
    assert _published(one.output_dir) == _published(two.output_dir) != {}
    # each folder keeps its own fingerprints; the shared table is left alone
    with store.read() as conn:
        assert load_fingerprints(conn) == {}
    # neither undid the other: a second round writes nothing and finds nothing stale
    for config in (one, two):
        assert not needs_build(config, store, now=NOW).stale
        assert build_feeds(config, store, now=NOW).written == []

    load_rows(store, [row(0, "tiyu", title="新的体育新闻")])
    for config in (one, two):
        assert needs_build(config, store, now=NOW).stale
        written = build_feeds(config, store, now=NOW).written
        assert "tiyu/rss.xml" in written and "shehui/rss.xml" not in written
    assert _published(one.output_dir) == _published(two.output_dir)


def test_local_builders_hold_leases_of_their_own(tmp_path: Path, store: Store) -> None:
    url = str(store.engine.url.render_as_string(hide_password=False))
    one, two = _config(tmp_path / "web1", url), _config(tmp_path / "web2", url)
    shared = _config(tmp_path / "shared", url, lease="store")
    names = {feeds_lease_name(c.feeds.lease, c.output_dir) for c in (one, two, shared)}
    assert len(names) == 3 and FEEDS_LEASE in names
    load_rows(store, [row(1, "tiyu")])
    clock = FakeClock(NOW)

    def runner(config: FeedConfig, holder: str) -> JobRunner:
        jobs = Jobs(build_feeds, _unused, _unused)  # type: ignore[arg-type]
        return JobRunner(WorkerConfig((), "UTC", config), store, clock, holder, jobs)

    async def both_at_once() -> list[JobResult]:
        job = manual_job(JobKind.FEEDS)
        return await asyncio.gather(
            runner(one, "web1:1:x").run(job, NOW), runner(two, "web2:1:x").run(job, NOW)
        )

    results = asyncio.run(both_at_once())
    assert [(r.outcome, r.reason) for r in results] == [("ok", None), ("ok", None)]
