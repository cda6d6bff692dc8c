"""Job runs: recorded in job_runs, one log line each, feeds never built twice at once."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from support import FakeClock
from workerfakes import UTC_NOON, FakeDigest, FakeFeeds

from pressroom.config import ScheduleSettings
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.worker.jobs import JobRunner
from pressroom.worker.logs import JsonFormatter
from pressroom.worker.registry import Jobs, effective_schedules, job_for
from pressroom.worker.scheduler import job_runner, run_once

FEEDS = ScheduleSettings(name="feeds-often", job="feeds", cron="*/10 * * * *")
DIGEST = ScheduleSettings(name="morning", job="digest", cron="0 8 * * *")


def runner(settings, store: Store, jobs: Jobs, worker: str = "w1", clock=None) -> JobRunner:  # type: ignore[no-untyped-def]
    return job_runner(settings, store, clock or FakeClock(UTC_NOON), worker, jobs)


def test_a_feeds_run_is_recorded_and_logged(
    settings,
    sqlite_store: Store,
    fake_jobs: Jobs,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.INFO, logger="pressroom.worker")
    result = asyncio.run(runner(settings, sqlite_store, fake_jobs).run(job_for(FEEDS), UTC_NOON))
    assert result.outcome == "ok" and result.summary == "wrote 3, kept 1"
    with sqlite_store.read() as conn:
        row = runs.last_run(conn, "feeds-often")
    assert row is not None and row.outcome == "ok" and row.summary == "wrote 3, kept 1"
    assert row.job == "feeds" and row.worker == "w1" and row.finished_at is not None
    lines = [r for r in caplog.records if r.name == "pressroom.worker"]
    assert len(lines) == 1
    text = lines[0].getMessage()
    assert text.startswith("feeds job feeds-often ok in ") and "wrote 3, kept 1" in text
    assert "started 2026-11-29T04:00:00Z" in text
    data = json.loads(JsonFormatter().format(lines[0]))
    assert data["event"] == "job_run" and data["outcome"] == "ok" and data["job"] == "feeds"
    assert data["summary"] == "wrote 3, kept 1" and data["worker"] == "w1"
    assert data["started"] == "2026-11-29T04:00:00+00:00" and data["seconds"] == 0


def test_a_failing_job_is_recorded_with_one_line_of_error(
    settings,
    sqlite_store: Store,
    fake_feeds: FakeFeeds,
    fake_jobs: Jobs,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    fake_feeds.error = OSError("disk full\nsecond line")
    result = asyncio.run(runner(settings, sqlite_store, fake_jobs).run(job_for(FEEDS), UTC_NOON))
    assert result.failed and result.error == "OSError: disk full"
    with sqlite_store.read() as conn:
        row = runs.last_run(conn, "feeds-often")
    assert row is not None and row.outcome == "failed" and row.error == "OSError: disk full"
    assert any(r.levelno == logging.ERROR and "failed" in r.getMessage() for r in caplog.records)


def test_a_digest_run_passes_schedule_and_fire_time(
    settings,
    sqlite_store: Store,
    fake_digest: FakeDigest,
    fake_jobs: Jobs,  # type: ignore[no-untyped-def]
) -> None:
    fire = UTC_NOON - timedelta(hours=4)
    result = asyncio.run(runner(settings, sqlite_store, fake_jobs).run(job_for(DIGEST), fire))
    assert fake_digest.calls == [("morning", fire)]
    assert result.outcome == "ok" and result.at == fire


def test_a_digest_left_unfinished_is_incomplete_not_failed(
    settings,
    sqlite_store: Store,
    fake_digest: FakeDigest,
    fake_jobs: Jobs,  # type: ignore[no-untyped-def]
) -> None:
    """Another worker sends the rest of the run (or the next run resumes it)."""
    fake_digest.ok = False
    result = asyncio.run(runner(settings, sqlite_store, fake_jobs).run(job_for(DIGEST), UTC_NOON))
    assert result.outcome == "incomplete" and result.ok and not result.failed
    assert result.summary.startswith("sent 5")


@pytest.mark.slow
def test_two_workers_never_build_feeds_at_once(
    settings,
    store: Store,
    fake_jobs: Jobs,
    fake_feeds: FakeFeeds,  # type: ignore[no-untyped-def]
) -> None:
    """Two runners (as two processes would) share the store; the lease lets one build."""
    fake_feeds.delay = 0.5
    one = runner(settings, store, fake_jobs, worker="w1")
    two = runner(settings, store, fake_jobs, worker="w2")

    async def both():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            one.run(job_for(FEEDS), UTC_NOON), two.run(job_for(FEEDS), UTC_NOON)
        )

    results = asyncio.run(both())
    assert sorted(r.outcome for r in results) == ["ok", "skipped"]
    assert fake_feeds.max_active == 1 and len(fake_feeds.calls) == 1
    skipped = next(r for r in results if r.outcome == "skipped")
    assert "another worker is building the feeds" in skipped.summary
    with store.read() as conn:  # released after the build
        assert runs.lease_holder(conn, "feeds") is None
    again = asyncio.run(two.run(job_for(FEEDS), UTC_NOON))
    assert again.outcome == "ok"


@pytest.mark.slow
def test_run_once_runs_feeds_first_then_each_digest_for_its_latest_fire_time(
    make_settings,
    fake_jobs: Jobs,
    fake_digest: FakeDigest,
    fake_feeds: FakeFeeds,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        """
[[schedules]]
name = "morning"
job = "digest"
cron = "0 8 * * *"
[[schedules]]
name = "feeds"
job = "feeds"
cron = "*/10 * * * *"
"""
    )
    from pressroom.store.engine import open_store

    store = open_store(settings.store_url)
    try:
        clock = FakeClock(UTC_NOON)
        results = run_once(settings, store, clock, show_progress=False, jobs=fake_jobs)
        assert [r.schedule for r in results] == ["feeds", "morning"]
        assert all(r.ok for r in results)
        # 12:00 in Shanghai: the morning digest of today, 08:00 CST = 00:00 UTC.
        assert fake_digest.calls == [("morning", UTC_NOON - timedelta(hours=4))]
        assert fake_feeds.calls == [UTC_NOON]
        with store.read() as conn:
            assert runs.last_run(conn, "morning") is not None
    finally:
        store.dispose()


def test_no_schedules_means_the_default_feeds_and_daily_digest(settings) -> None:  # type: ignore[no-untyped-def]
    names = [(s.name, s.job) for s in effective_schedules(settings.schedules)]
    assert names == [("feeds", "feeds"), ("daily", "digest")]
