"""The running worker: catch-up at start, scheduled runs, heartbeat, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from workerfakes import FakeDigest, FakeFeeds, no_bounces

from pressroom.config import Settings
from pressroom.store import runs
from pressroom.store.engine import Store, open_store
from pressroom.worker.registry import Jobs
from pressroom.worker.scheduler import Worker


def minute_ago_cron() -> str:
    """A daily UTC schedule whose fire time was a minute ago (so start-up catches it up)."""
    fired = datetime.now(UTC) - timedelta(minutes=1)
    return f"{fired.minute} {fired.hour} * * *"


@pytest.fixture
def missed(make_settings) -> Iterator[tuple[Settings, Store]]:  # type: ignore[no-untyped-def]
    cron = minute_ago_cron()
    settings = make_settings(
        f"""
[[schedules]]
name = "feeds"
job = "feeds"
cron = "{cron}"
timezone = "UTC"
[[schedules]]
name = "morning"
job = "digest"
cron = "{cron}"
timezone = "UTC"
"""
    )
    store = open_store(settings.store_url)
    yield settings, store
    store.dispose()


async def serve_until(worker: Worker, ready: asyncio.Event, then_stop: bool = True) -> int:
    serving = asyncio.create_task(worker.serve())
    await asyncio.wait_for(ready.wait(), timeout=10)
    if then_stop:
        worker.request_stop()
    return await asyncio.wait_for(serving, timeout=15)


def test_start_up_catches_up_then_sigterm_lets_the_digest_finish(
    missed: tuple[Settings, Store], fake_feeds: FakeFeeds
) -> None:
    settings, store = missed
    digest = FakeDigest(until_stop=True, ok=False, in_flight=0.2)
    worker = Worker(settings, store, jobs=Jobs(fake_feeds, digest, no_bounces))

    async def scenario() -> int:
        digest.started = asyncio.Event()
        serving = asyncio.create_task(worker.serve())
        await asyncio.wait_for(digest.started.wait(), timeout=10)
        with store.read() as conn:  # the heartbeat is written while the worker runs
            alive = runs.live_workers(conn, max_age=timedelta(minutes=1))
        assert [w.id for w in alive] == [worker.worker_id]
        worker.request_stop()
        return await asyncio.wait_for(serving, timeout=15)

    assert asyncio.run(scenario()) == 0
    assert len(digest.calls) == 1 and digest.saw_stop == [True]  # stop reached the digest
    assert len(fake_feeds.calls) == 1
    with store.read() as conn:
        last = runs.last_run(conn, "morning")
        assert runs.live_workers(conn, max_age=timedelta(days=1)) == []
    assert last is not None and last.outcome == "stopped" and last.finished_at is not None


def test_a_job_outliving_the_stop_timeout_makes_the_exit_code_1(
    missed: tuple[Settings, Store], fake_feeds: FakeFeeds
) -> None:
    settings, store = missed

    class Stubborn(FakeDigest):
        async def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            assert self.started is not None
            self.started.set()
            await asyncio.sleep(30)

    digest = Stubborn()
    worker = Worker(settings, store, jobs=Jobs(fake_feeds, digest, no_bounces), stop_timeout=0.3)

    async def scenario() -> int:
        digest.started = asyncio.Event()
        return await serve_until(worker, digest.started)

    assert asyncio.run(scenario()) == 1


@pytest.mark.slow
def test_scheduled_runs_fire_one_instance_at_a_time(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Every second a feeds run is due; a build takes 1.5 s: runs never overlap."""
    settings = make_settings('[[schedules]]\nname = "feeds"\njob = "feeds"\ncron = "0 0 1 1 *"\n')
    store = open_store(settings.store_url)
    feeds = FakeFeeds(delay=1.5)
    worker = Worker(
        settings,
        store,
        jobs=Jobs(feeds, FakeDigest(), no_bounces),
        trigger_factory=lambda _schedule, _zone: IntervalTrigger(seconds=1),
    )

    async def scenario() -> int:
        serving = asyncio.create_task(worker.serve())
        await asyncio.sleep(4.2)
        worker.request_stop()
        return await asyncio.wait_for(serving, timeout=10)

    try:
        assert asyncio.run(scenario()) == 0
        assert 2 <= len(feeds.calls) <= 3 and feeds.max_active == 1
        assert [r.outcome for r in worker.results] == ["ok"] * len(feeds.calls)
    finally:
        store.dispose()
