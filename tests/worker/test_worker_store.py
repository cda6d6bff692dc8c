"""The worker's store queries, on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from workerfakes import add_deliveries, add_digest_run

from pressroom.models import DeliveryStatus, JobOutcome
from pressroom.store import runs
from pressroom.store.deliveries import counts
from pressroom.store.digests import latest_digest
from pressroom.store.engine import Store
from pressroom.worker.lease import BOUNCES_LEASE, Lease

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
TTL = timedelta(minutes=2)


@pytest.mark.slow
def test_lease_is_exclusive_until_it_expires_by_the_stores_clock(store: Store) -> None:
    short = timedelta(seconds=0.6)
    with store.write() as conn:
        assert runs.acquire_lease(conn, "feeds", "a", ttl=short)
    with store.write() as conn:
        assert not runs.acquire_lease(conn, "feeds", "b", ttl=short)
        assert runs.lease_holder(conn, "feeds") == "a"
    time.sleep(0.3)
    with store.write() as conn:  # the holder renews: another 0.6 s from now
        assert runs.acquire_lease(conn, "feeds", "a", ttl=short)
    time.sleep(0.4)  # past the first expiry, inside the renewed one
    with store.write() as conn:
        assert not runs.acquire_lease(conn, "feeds", "b", ttl=short)
    time.sleep(0.4)  # "a" died: its lease lapses
    with store.write() as conn:
        assert runs.lease_holder(conn, "feeds") is None
        assert runs.acquire_lease(conn, "feeds", "b", ttl=short)
        assert runs.lease_holder(conn, "feeds") == "b"


@pytest.mark.slow  # two Python processes: over 2 s on a loaded machine
def test_a_dead_holders_lease_on_this_host_is_taken_back_at_once(store: Store) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live = f"{socket.gethostname()}:{sleeper.pid}:1"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}:1"
    elsewhere = "another-host:1:1"  # a pid on another machine cannot be looked at

    async def take(holder: str) -> tuple[bool, str | None]:
        with store.write() as conn:
            for before in ("me", dead, live):
                runs.release_lease(conn, BOUNCES_LEASE, before)
            assert runs.acquire_lease(conn, BOUNCES_LEASE, holder, ttl=TTL)
        async with Lease(store, BOUNCES_LEASE, "me", lambda: NOW) as lease:
            return lease.held, lease.other

    try:
        assert asyncio.run(take(dead)) == (True, None)  # SIGKILLed on this host: at once
        assert asyncio.run(take(live)) == (False, live)
        assert asyncio.run(take(elsewhere)) == (False, elsewhere)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_release_frees_the_lease_only_for_its_holder(store: Store) -> None:
    with store.write() as conn:
        assert runs.acquire_lease(conn, "feeds", "a", ttl=TTL)
        runs.release_lease(conn, "feeds", "b")
        assert runs.lease_holder(conn, "feeds") == "a"
        runs.release_lease(conn, "feeds", "a")
        assert runs.lease_holder(conn, "feeds") is None
        assert runs.acquire_lease(conn, "feeds", "b", ttl=TTL)


def test_job_runs_record_start_and_finish(store: Store) -> None:
    with store.write() as conn:
        first = runs.start_run(conn, job="feeds", schedule="feeds", started_at=NOW, worker="w1")
        runs.finish_run(
            conn,
            first,
            finished_at=NOW + timedelta(seconds=2),
            outcome=JobOutcome.OK,
            summary="wrote 3",
        )
        second = runs.start_run(
            conn, job="feeds", schedule="feeds", started_at=NOW + timedelta(minutes=10), worker="w1"
        )
    with store.read() as conn:
        last = runs.last_run(conn, "feeds")
        done = runs.last_run(conn, "feeds", finished=True)
        ok = runs.last_job_run(conn, "feeds", outcome=JobOutcome.OK)
        assert runs.last_run(conn, "other") is None
        assert runs.run_started_since(conn, "feeds", NOW + timedelta(minutes=5))
        assert not runs.run_started_since(conn, "feeds", NOW + timedelta(minutes=11))
    assert last is not None and last.id == second and last.outcome == "running"
    assert done is not None and done.id == first and done.summary == "wrote 3"
    assert done.finished_at == NOW + timedelta(seconds=2)
    assert ok is not None and ok.id == first


def test_heartbeats_say_which_workers_live(store: Store) -> None:
    with store.write() as conn:
        runs.touch_worker(conn, "h:1:0", host="h", pid=1, started_at=NOW)
        runs.touch_worker(conn, "h:2:0", host="h", pid=2, started_at=NOW)
    time.sleep(0.5)
    with store.write() as conn:
        runs.touch_worker(conn, "h:1:0", host="h", pid=1, started_at=NOW)
    with store.read() as conn:
        alive = runs.live_workers(conn, max_age=timedelta(seconds=0.4))
        everyone = runs.all_workers(conn)
    assert [w.id for w in alive] == ["h:1:0"] and alive[0].started_at == NOW
    assert [w.id for w in everyone] == ["h:1:0", "h:2:0"]
    with store.write() as conn:
        assert runs.prune_workers(conn, silent_for=timedelta(seconds=0.4)) == 1
        runs.remove_worker(conn, "h:1:0")
    with store.read() as conn:
        assert runs.all_workers(conn) == []


def test_digest_read_outs(store: Store) -> None:
    add_digest_run(store, "morning", NOW - timedelta(hours=24), period="daily:2026-11-28")
    current = add_digest_run(store, "morning", NOW, completed=False, period="daily:2026-11-29")
    add_deliveries(store, current, ["sent", "sent", "sent", "failed", "queued"], NOW)
    with store.read() as conn:
        latest = latest_digest(conn, "morning")
        assert latest is not None and latest.period == "daily:2026-11-29"
        found = {status: n for status, n in counts(conn, current).items() if n}
        assert found == {
            DeliveryStatus.FAILED: 1,
            DeliveryStatus.QUEUED: 1,
            DeliveryStatus.SENT: 3,
        }
        assert runs.digest_done_since(conn, "morning", NOW - timedelta(hours=25))
        assert not runs.digest_done_since(conn, "morning", NOW - timedelta(hours=1))  # open
        assert latest_digest(conn, "evening") is None


def test_running_runs_without_a_heartbeat_are_abandoned(store: Store) -> None:
    with store.write() as conn:
        dead = runs.start_run(conn, job="feeds", schedule="feeds", started_at=NOW, worker="dead")
        live = runs.start_run(conn, job="digest", schedule="morning", started_at=NOW, worker="live")
        # the live worker's run whose end it could not write: no longer in progress
        orphan = runs.start_run(conn, job="bounces", schedule="b", started_at=NOW, worker="live")
    time.sleep(0.5)
    with store.write() as conn:
        assert runs.beat_runs(conn, "live", [live, dead]) == 1  # only its runs in progress
        count = runs.abandon_runs(conn, silent_for=timedelta(seconds=0.4))
    assert count == 2
    with store.read() as conn:
        rows = {
            "dead": runs.last_run(conn, "feeds"),
            "live": runs.last_run(conn, "morning"),
            "orphan": runs.last_run(conn, "b"),
        }
    assert {k: r.outcome for k, r in rows.items() if r} == {
        "dead": JobOutcome.ABANDONED,
        "live": JobOutcome.RUNNING,
        "orphan": JobOutcome.ABANDONED,
    }
    assert rows["orphan"] is not None and rows["orphan"].id == orphan
    assert rows["dead"] is not None and rows["dead"].worker == "dead" and dead != live


@pytest.mark.slow
def test_a_heartbeat_the_store_refused_is_tried_again_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opskit import lock_sqlite

    from pressroom.store.engine import open_store
    from pressroom.worker import lease

    monkeypatch.setattr(lease, "HEARTBEAT_EVERY", timedelta(seconds=3))
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", busy_timeout=0.5)

    async def beat_through_a_lock() -> float:
        heart = lease.Heartbeat(store, "h:1:0", lambda: NOW)
        await heart.start()
        locker = await asyncio.to_thread(lock_sqlite, tmp_path / "store.db", 3.4)
        await asyncio.sleep(5.0)  # the beat at 3 s fails; without a retry the next is at 6.5 s
        await asyncio.to_thread(locker.communicate, timeout=30)
        with store.read() as conn:
            age = runs.newest_heartbeat_age(conn)[1]
        await heart.stop()
        assert age is not None
        return age

    try:
        # retried a second after the refusal (at 4.4 s), not at the next beat (6.5 s)
        assert asyncio.run(beat_through_a_lock()) < 1.5 + 0.9
    finally:
        store.dispose()
