"""Start-up after downtime: the latest missed period runs once inside its grace, else skips."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support import FakeClock
from workerfakes import FakeDigest, add_digest_run

from pressroom.config import Settings
from pressroom.models import JobOutcome
from pressroom.store import runs
from pressroom.store.engine import Store, open_store
from pressroom.worker.registry import Jobs, job_for
from pressroom.worker.scheduler import job_runner, plan_startup

SHANGHAI_0800 = """
[[schedules]]
name = "morning"
job = "digest"
cron = "0 8 * * *"
misfire_grace = "6h"

[[schedules]]
name = "feeds"
job = "feeds"
cron = "0 * * * *"
misfire_grace = "30m"
"""

BERLIN_0230 = """
[[schedules]]
name = "night"
job = "digest"
cron = "30 2 * * *"
timezone = "Europe/Berlin"
"""

TODAY_0800 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai


@pytest.fixture
def shanghai(make_settings) -> Iterator[tuple[Settings, Store]]:  # type: ignore[no-untyped-def]
    settings = make_settings(SHANGHAI_0800)
    store = open_store(settings.store_url)
    yield settings, store
    store.dispose()


def add_digest(store: Store, schedule: str, created: datetime, *, completed: bool = True) -> None:
    add_digest_run(store, schedule, created, completed=completed)


def decisions(
    settings: Settings, store: Store, now: datetime
) -> dict[str, tuple[str, datetime | None, str]]:
    return {
        d.schedule.name: (d.action, d.fire_time, d.reason)
        for d in plan_startup(settings, store, now)
    }


@pytest.mark.slow
def test_three_days_down_then_inside_grace_runs_the_latest_period_once(
    shanghai: tuple[Settings, Store], fake_jobs: Jobs, fake_digest: FakeDigest
) -> None:
    settings, store = shanghai
    add_digest(store, "morning", TODAY_0800 - timedelta(days=3))  # the last run before the outage
    now = TODAY_0800 + timedelta(hours=2, minutes=5)  # back up at 10:05 local
    plan = decisions(settings, store, now)
    action, fire, reason = plan["morning"]
    assert (action, fire) == ("run", TODAY_0800)
    assert "missed 2026-11-29 08:00 CST, 2h05m ago" in reason
    # The worker runs what the plan says, through the job runner: one digest, no backlog.
    clock = FakeClock(now)
    runner = job_runner(settings, store, clock, "w1", fake_jobs)
    for decision in plan_startup(settings, store, now):
        if decision.action == "run" and decision.fire_time is not None:
            asyncio.run(runner.run(job_for(decision.schedule), decision.fire_time))
    assert fake_digest.calls == [("morning", TODAY_0800)]


def test_three_days_down_then_beyond_grace_skips_with_a_reason(
    shanghai: tuple[Settings, Store],
) -> None:
    settings, store = shanghai
    add_digest(store, "morning", TODAY_0800 - timedelta(days=3))
    now = TODAY_0800 + timedelta(hours=7)  # 15:00 local: 7 h late, grace 6 h
    action, fire, reason = decisions(settings, store, now)["morning"]
    assert (action, fire) == ("skip", TODAY_0800)
    assert "beyond its grace of 6h00m" in reason and "watermark carries its articles" in reason


def test_a_period_already_sent_is_not_sent_again(shanghai: tuple[Settings, Store]) -> None:
    settings, store = shanghai
    add_digest(store, "morning", TODAY_0800 + timedelta(seconds=3))
    action, fire, reason = decisions(settings, store, TODAY_0800 + timedelta(hours=1))["morning"]
    assert (action, fire) == ("none", TODAY_0800) and "is done" in reason


def test_an_interrupted_period_inside_grace_runs_again_to_resume(
    shanghai: tuple[Settings, Store],
) -> None:
    settings, store = shanghai
    add_digest(store, "morning", TODAY_0800 + timedelta(seconds=3), completed=False)
    action, fire, _ = decisions(settings, store, TODAY_0800 + timedelta(hours=1))["morning"]
    assert (action, fire) == ("run", TODAY_0800)


def test_feeds_catch_up_unless_a_build_started_since_the_fire_time(
    shanghai: tuple[Settings, Store],
) -> None:
    settings, store = shanghai
    now = TODAY_0800 + timedelta(minutes=20)
    assert decisions(settings, store, now)["feeds"][:2] == ("run", TODAY_0800)
    late = TODAY_0800 + timedelta(minutes=59)  # 59 min after 08:00, grace 30 min, no run since
    assert decisions(settings, store, late)["feeds"][:2] == ("skip", TODAY_0800)
    with store.write() as conn:
        run_id = runs.start_run(
            conn, job="feeds", schedule="feeds", started_at=TODAY_0800, worker="w"
        )
        runs.finish_run(conn, run_id, finished_at=TODAY_0800, outcome=JobOutcome.OK, summary="")
    assert decisions(settings, store, now)["feeds"][0] == "none"


@pytest.mark.parametrize(
    ("last_run", "back_at", "expected_fire"),
    [
        # Down from the 26th to the 29th of March, across the spring change (02:30 missing).
        (
            datetime(2026, 3, 26, 1, 30, tzinfo=UTC),
            datetime(2026, 3, 29, 3, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        ),
        # Down from the 22nd to the 25th of October, across the autumn change (02:30 twice).
        (
            datetime(2026, 10, 22, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 3, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
    ],
    ids=["spring", "autumn"],
)
def test_downtime_across_a_dst_change_runs_one_period(
    make_settings,
    last_run: datetime,
    back_at: datetime,
    expected_fire: datetime,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(BERLIN_0230)
    store = open_store(settings.store_url)
    try:
        add_digest(store, "night", last_run)
        runs_now = [d for d in plan_startup(settings, store, back_at) if d.action == "run"]
        assert [(d.schedule.name, d.fire_time) for d in runs_now] == [("night", expected_fire)]
        # After that run, a restart the same day finds the period done.
        add_digest(store, "night", back_at)
        again = plan_startup(settings, store, back_at + timedelta(minutes=5))
        assert [d.action for d in again] == ["none"]
    finally:
        store.dispose()
