"""A run the store refuses to start (SQLite locked past the busy timeout, a PostgreSQL lock
timeout) is recorded ``skipped`` with reason ``store``, as a lease refusal is recorded with
reason ``lease``: once the store answers, before anything else of its holder.

Real parts: a SQLite file whose write lock another connection holds, a PostgreSQL table
another transaction has locked, ``pressroom feeds build`` as its own process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opskit import make_site, start_pressroom
from sqlalchemy import create_engine, select, text
from support import FakeClock

from pressroom.config import Settings
from pressroom.errors import StoreUnavailable
from pressroom.models import JobKind, JobOutcome, JobTrigger
from pressroom.store import runs
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import job_runs
from pressroom.worker.lease import Heartbeat
from pressroom.worker.recording import STORE_REFUSED
from pressroom.worker.registry import Jobs, job_for, manual_job
from pressroom.worker.scheduler import job_runner, worker_config
from pressroom.worker.status import collect_status

SCHEDULES = """
[[schedules]]
name = "feeds"
job = "feeds"
cron = "*/15 * * * *"
"""


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another connection holds the file's write lock (``BEGIN IMMEDIATE``) meanwhile."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("COMMIT")
    finally:
        conn.close()


def feeds_runs(store: Store) -> list[runs.JobRunRow]:
    with store.read() as conn:
        rows = conn.execute(select(job_runs).where(job_runs.c.job == "feeds")).all()
    return [runs.JobRunRow.from_row(row._mapping) for row in rows]


def refuse_then_record(
    settings: Settings, store: Store, jobs: Jobs, lock: Callable[[], AbstractContextManager[None]]
) -> None:
    """A feeds run while ``lock`` holds the store: skipped, kept, written by the next beat."""
    now = datetime.now(UTC)
    runner = job_runner(settings, store, FakeClock(now), "w1:1:0", jobs)
    feeds = next(s for s in settings.schedules if s.name == "feeds")
    with lock():
        result = asyncio.run(runner.run(job_for(feeds), now))
        assert (result.outcome, result.reason) == (JobOutcome.SKIPPED, STORE_REFUSED)
        assert result.store_failed and "locked" in (result.error or "")
        assert runner.open_runs.waiting() == 1
        assert feeds_runs(store) == []  # the store takes nothing while it is locked
    Heartbeat(store, runner.worker_id, FakeClock(now), runner.open_runs).beat()
    assert runner.open_runs.waiting() == 0
    [row] = feeds_runs(store)
    assert (row.outcome, row.reason, row.schedule) == (JobOutcome.SKIPPED, "store", "feeds")
    assert row.worker == "w1:1:0" and row.trigger == "schedule"
    assert "locked" in (row.error or "")
    report = collect_status(worker_config(settings), store, now)
    shown = report.schedules[0].last_run
    assert shown is not None and shown.reason == "store"  # unlike a lease skip, it stands
    text_report = "\n".join(report.lines())
    assert "skipped" in text_report and "the store refused it" in text_report


def test_a_run_refused_by_a_locked_sqlite_file_is_recorded_once_it_answers(
    tmp_path: Path, make_settings: Callable[..., Settings], fake_jobs: Jobs
) -> None:
    settings = make_settings(SCHEDULES)
    store = open_store(settings.store_url, busy_timeout=0.2)
    try:
        refuse_then_record(settings, store, fake_jobs, lambda: sqlite_locked(tmp_path / "store.db"))
        assert fake_jobs.build_feeds.calls == []  # type: ignore[attr-defined]
    finally:
        store.dispose()


@pytest.mark.postgres
def test_a_run_refused_by_a_postgresql_lock_timeout_is_recorded_once_it_answers(
    pg_url: str, make_settings: Callable[..., Settings], fake_jobs: Jobs
) -> None:
    # The store's role waits 0.2 s for a lock; another transaction locks job_runs for writes.
    url = pg_url.replace("options=", "options=-clock_timeout%3D200%20", 1)
    settings = make_settings(SCHEDULES, url)
    store = open_store(url)
    admin = create_engine(pg_url)

    @contextmanager
    def table_locked() -> Iterator[None]:
        with admin.begin() as conn:
            conn.execute(text("LOCK TABLE job_runs IN SHARE ROW EXCLUSIVE MODE"))
            yield

    try:
        refuse_then_record(settings, store, fake_jobs, table_locked)
        assert fake_jobs.build_feeds.calls == []  # type: ignore[attr-defined]
    finally:
        store.dispose()
        admin.dispose()


def test_a_refused_run_is_written_before_the_next_run_and_only_once(
    tmp_path: Path, make_settings: Callable[..., Settings], fake_jobs: Jobs
) -> None:
    settings = make_settings(SCHEDULES)
    store = open_store(settings.store_url, busy_timeout=0.2)
    now = datetime.now(UTC)
    runner = job_runner(settings, store, FakeClock(now), "w1:1:0", fake_jobs)
    job = manual_job(JobKind.FEEDS, "")
    try:
        with sqlite_locked(tmp_path / "store.db"):
            asyncio.run(runner.run(job, now, JobTrigger.MANUAL))

        async def two_writers() -> None:  # the next run and a heartbeat, at once
            beat = Heartbeat(store, runner.worker_id, FakeClock(now), runner.open_runs)
            await asyncio.gather(runner.run(job, now, JobTrigger.MANUAL),
                                 asyncio.to_thread(beat.beat))  # fmt: skip

        asyncio.run(two_writers())
        outcomes = sorted((r.outcome, r.reason or "") for r in feeds_runs(store))
        assert outcomes == [(JobOutcome.OK, ""), (JobOutcome.SKIPPED, "store")]
    finally:
        store.dispose()


@pytest.mark.slow  # a pressroom process waiting out a busy timeout
def test_a_command_raises_and_records_its_refusal_when_the_store_answers_in_time(
    tmp_path: Path,
) -> None:
    """``feeds build`` while another process holds the lock: after the busy timeout the
    command logs its refusal and waits 2 s more to record it; the lock ends meanwhile."""
    site = make_site(tmp_path, busy_timeout=3.0)
    lock = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        with start_pressroom(site, "feeds", "build") as command:
            try:
                assert command.stderr is not None
                refusals = []
                for line in command.stderr:  # the refusal's log line, then the lock ends
                    refusals.append(line)
                    if "the store refused it" in line:
                        break
                lock.execute("COMMIT")
                _out, err = command.communicate(timeout=60)
            except BaseException:
                command.kill()
                raise
        assert command.returncode == 1, "".join(refusals) + err
        assert "is locked by another process" in err
        [row] = feeds_runs(site.store)
        assert (row.outcome, row.reason, row.trigger) == (JobOutcome.SKIPPED, "store", "manual")
    finally:
        lock.close()
        site.store.dispose()


def test_a_refused_start_raises_for_a_command(
    tmp_path: Path, make_settings: Callable[..., Settings], fake_jobs: Jobs
) -> None:
    settings = make_settings(SCHEDULES)
    store = open_store(settings.store_url, busy_timeout=0.2)
    runner = job_runner(settings, store, FakeClock(datetime.now(UTC)), "p:1:0", fake_jobs)
    runner.raise_errors = True
    try:
        with sqlite_locked(tmp_path / "store.db"), pytest.raises(StoreUnavailable):
            asyncio.run(runner.run(job_for(settings.schedules[0]), datetime.now(UTC)))
        assert runner.open_runs.waiting() == 1
    finally:
        store.dispose()
