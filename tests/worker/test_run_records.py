"""Every run is a job_runs row, and status reads only those rows (issue 11, item 3 and 2)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from opskit import make_site, start_pressroom
from smtpkit import Recorder, SmtpServer
from support import FakeClock

from pressroom.cli import main
from pressroom.config import DEFAULT_SCHEDULES, Settings
from pressroom.models import JobOutcome, JobTrigger
from pressroom.store import deliveries as ledger
from pressroom.store import runs
from pressroom.store.digests import latest_digest
from pressroom.store.engine import Store, open_store
from pressroom.worker.lease import Heartbeat, Lease
from pressroom.worker.registry import Jobs, job_for
from pressroom.worker.scheduler import (
    StartupAction,
    Worker,
    job_runner,
    plan_startup,
    worker_config,
)
from pressroom.worker.status import collect_status

SCHEDULES = """
[[schedules]]
name = "feeds"
job = "feeds"
cron = "*/15 * * * *"
[[schedules]]
name = "morning"
job = "digest"
cron = "0 8 * * *"
misfire_grace = "30m"
"""

SCHEDULES_DEFAULT_NO_GRACE = """
[[schedules]]
name = "feeds"
job = "feeds"
cron = "*/15 * * * *"
[[schedules]]
name = "daily"
job = "digest"
cron = "0 7 * * *"
misfire_grace = 0
"""


@pytest.fixture
def seeded(make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, Store]]:
    settings = make_settings(SCHEDULES)
    store = open_store(settings.store_url)
    yield settings, store
    store.dispose()


def failed_scheduled_run(store: Store, schedule: str, job: str) -> None:
    with store.write() as conn:
        run_id = runs.start_run(
            conn, job=job, schedule=schedule, started_at=datetime.now(UTC), worker="h:1:0"
        )
        runs.finish_run(
            conn, run_id, finished_at=datetime.now(UTC), outcome=JobOutcome.FAILED, summary="",
            error="OSError: disk full",
        )  # fmt: skip


def status_json(settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = main(["--config", str(settings.source), "status", "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_a_manual_feeds_build_is_recorded_and_clears_a_failed_scheduled_build(
    seeded: tuple[Settings, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, store = seeded
    failed_scheduled_run(store, "feeds", "feeds")
    assert status_json(settings, capsys)[0] == 1
    assert main(["--config", str(settings.source), "feeds", "build"]) == 0
    code, data = status_json(settings, capsys)
    assert code == 0 and data["failed"] is False
    last = data["schedules"][0]["last_run"]
    assert (last["outcome"], last["trigger"]) == ("ok", "manual")
    assert last["worker"].startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert data["last_feed_build"]["trigger"] == "manual"
    with store.read() as conn:
        row = runs.newest_run(conn, job="feeds")
    assert row is not None and row.produced > 0 and row.finished_at is not None


@pytest.mark.slow
def test_a_failed_manual_send_is_recorded_and_status_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = make_site(tmp_path, smtp=("127.0.0.1", 9), count=3)  # nothing listens on 9
    code = main(["--config", str(site.config), "digest", "send"])
    assert code == 1
    assert "Traceback" not in capsys.readouterr().err
    code, data = status_json(site.settings, capsys)
    assert code == 1
    digest = next(s for s in data["schedules"] if s["job"] == "digest")
    assert digest["failed"] and digest["last_run"]["outcome"] == "failed"
    assert digest["last_run"]["trigger"] == "manual" and digest["last_run"]["error"]
    site.store.dispose()


def test_a_misfire_beyond_its_grace_is_a_skipped_run_with_its_reason(
    seeded: tuple[Settings, Store], fake_jobs: Jobs, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, store = seeded
    now = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # 12:00 Shanghai: 08:00 is 4 h ago
    worker = Worker(settings, store, FakeClock(now), fake_jobs)
    decision = next(d for d in plan_startup(settings, store, now) if d.schedule.name == "morning")
    assert decision.action is StartupAction.SKIP
    worker._apply(None, decision)  # type: ignore[arg-type]  # a skip touches no scheduler
    code, data = status_json(settings, capsys)
    morning = data["schedules"][1]["last_run"]
    assert (morning["outcome"], morning["trigger"], morning["reason"]) == (
        "skipped",
        "catch-up",
        "misfire",
    )
    assert "beyond its grace" in morning["summary"] and morning["worker"] == worker.worker_id
    assert code == 0  # a skip is not a failure

    missed = JobExecutionEvent(EVENT_JOB_MISSED, "morning", None, now - timedelta(hours=1))
    worker._missed(missed)  # what APScheduler calls when it drops a late fire
    with store.read() as conn:
        row = runs.newest_run(conn, schedule="morning")
    assert row is not None and row.trigger is JobTrigger.SCHEDULE and row.reason == "misfire"


def test_a_lease_skip_does_not_hide_the_build_another_worker_made(
    seeded: tuple[Settings, Store], fake_jobs: Jobs
) -> None:
    settings, store = seeded
    feeds = next(s for s in settings.schedules if s.name == "feeds")
    fake_jobs.build_feeds.delay = 0.5  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    one = job_runner(settings, store, FakeClock(now), "w1", fake_jobs)
    two = job_runner(settings, store, FakeClock(now), "w2", fake_jobs)

    async def both() -> None:
        await asyncio.gather(one.run(job_for(feeds), now), two.run(job_for(feeds), now))

    asyncio.run(both())
    report = collect_status(worker_config(settings), store, now)
    shown = report.schedules[0].last_run
    assert shown is not None and shown.outcome is JobOutcome.OK
    with store.read() as conn:
        newest_any = runs.last_run(conn, "feeds")
    assert newest_any is not None
    assert {newest_any.outcome, shown.outcome} <= {JobOutcome.OK, JobOutcome.SKIPPED}


def test_no_run_without_a_holder_and_no_lease_holder_shown_as_none(store: Store) -> None:
    with store.write() as conn, pytest.raises(ValueError, match="holder"):
        runs.start_run(conn, job="feeds", schedule="", started_at=datetime.now(UTC), worker="")

    async def contest() -> str | None:
        async with Lease(store, "feeds", "a", FakeClock(datetime.now(UTC))) as first:
            assert first.held
            async with Lease(store, "feeds", "b", FakeClock(datetime.now(UTC))) as second:
                assert not second.held
                return second.other

    assert asyncio.run(contest()) == "a"


def test_skewed_process_clocks_neither_share_a_lease_nor_kill_a_live_worker(
    seeded: tuple[Settings, Store],
) -> None:
    settings, store = seeded
    real = datetime.now(UTC)
    ahead, behind = FakeClock(real + timedelta(hours=2)), FakeClock(real - timedelta(hours=2))

    async def leases() -> tuple[bool, bool]:
        async with (
            Lease(store, "feeds", "behind", behind) as first,
            Lease(store, "feeds", "ahead", ahead) as second,
        ):
            return first.held, second.held

    assert asyncio.run(leases()) == (True, False)  # two hours ahead cannot see it expired

    async def beat() -> None:
        heart = Heartbeat(store, "slow-clock:1:0", FakeClock(real - timedelta(minutes=10)))
        heart.beat()

    asyncio.run(beat())
    report = collect_status(
        worker_config(settings), store, ahead()
    )  # the reader's clock is off too
    assert [w.id for w in report.live_workers] == ["slow-clock:1:0"]
    assert report.as_json()["worker_alive"] is True


@pytest.mark.slow
@pytest.mark.smtp
def test_killed_worker_and_killed_sender_show_dead_and_abandoned(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = Recorder(delay=0.05)
    server = smtp_server(handler)
    # the default schedules, but no catch-up: started between 07:00 and 13:00 in Shanghai, the
    # worker would otherwise run the morning's missed digest itself, a real run later than
    # the killed sender's, and the status would show that one
    site = make_site(
        tmp_path, smtp=(server.host, server.port), count=400, extra=SCHEDULES_DEFAULT_NO_GRACE
    )
    worker = start_pressroom(site, "run")
    sender = start_pressroom(site, "digest", "send")
    deadline = time.monotonic() + 60
    while len(handler.received) < 20:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # the worker has written its heartbeat
    for process in (worker, sender):
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
    time.sleep(31)  # two heartbeat intervals (15 s each) and a second
    code, data = status_json(site.settings, capsys)
    assert code == 1, json.dumps(data, indent=1)
    # the worker's start-up may have recorded a later misfire skip: the real run still shows
    digest = next(s for s in data["schedules"] if s["job"] == "digest")["last_real_run"]
    assert digest["outcome"] == "abandoned" and digest["trigger"] == "manual"
    assert digest["worker"].split(":")[1] == str(sender.pid)
    assert data["worker_alive"] is False
    dead = [w for w in data["workers"] if w["pid"] == worker.pid]
    assert dead and dead[0]["alive"] is False and dead[0]["heartbeat_age_s"] > 30
    site.store.dispose()


@pytest.mark.slow
def test_a_worker_leaving_deliveries_to_another_sender_records_incomplete(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]
) -> None:
    server = smtp_server(Recorder())
    site = make_site(tmp_path, smtp=(server.host, server.port), count=3)  # default schedules
    daily = next(s for s in DEFAULT_SCHEDULES if s.name == "daily")
    runner = job_runner(site.settings, site.store, FakeClock(datetime.now(UTC)), "w1")
    stop = asyncio.Event()
    stop.set()  # the first run only opens the period's run and queues its deliveries
    runner.stop = stop
    asyncio.run(runner.run(job_for(daily), datetime.now(UTC)))
    with site.store.write() as conn:  # another machine's live sender holds one row
        run = latest_digest(conn, "daily")
        assert run is not None
        assert len(ledger.claim(conn, run.id, "elsewhere:1:1", 1)) == 1
    runner.stop = asyncio.Event()
    result = asyncio.run(runner.run(job_for(daily), datetime.now(UTC)))
    assert result.outcome is JobOutcome.INCOMPLETE and result.ok
    with site.store.read() as conn:
        row = runs.newest_run(conn, schedule="daily")
    assert row is not None and row.outcome is JobOutcome.INCOMPLETE and row.produced == 2
    site.store.dispose()
