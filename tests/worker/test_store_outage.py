"""A store that stops answering mid-send under ``pressroom run``: no orphan run, and the
digest is resumed by the worker once the store answers again, not at the next period.

Real parts: ``pressroom run`` as its own process, a real aiosmtpd sink that takes its
time, a second process holding SQLite's write lock past the busy timeout.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opskit import lock_sqlite, make_site, start_pressroom
from smtpkit import Recorder, SmtpServer
from sqlalchemy import create_engine, text

from pressroom.cli import main
from pressroom.models import JobOutcome
from pressroom.store import runs
from pressroom.store.schema import job_runs

pytestmark = [pytest.mark.slow, pytest.mark.smtp]

COUNT = 300
BUSY = 2.0


def daily_due_now() -> str:
    """A daily schedule whose fire was two minutes ago: the worker's start-up runs it."""
    fire = datetime.now(UTC) - timedelta(minutes=2)
    return (
        '[[schedules]]\nname = "daily"\njob = "digest"\n'
        f'cron = "{fire.minute} {fire.hour} * * *"\ntimezone = "UTC"\nmisfire_grace = "1h"\n'
    )


def test_a_send_cut_by_a_store_lock_is_resumed_once_the_store_answers(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer], capsys: pytest.CaptureFixture[str]
) -> None:
    def lock() -> None:
        lock_sqlite(tmp_path / "store.db", 12).communicate(timeout=60)

    cut_and_resume(tmp_path, smtp_server, capsys, None, lock)


@pytest.mark.postgres
def test_a_send_cut_by_killed_postgresql_connections_is_resumed(
    tmp_path: Path,
    smtp_server: Callable[..., SmtpServer],
    capsys: pytest.CaptureFixture[str],
    pg_url: str,
    pg_base_url: str,
) -> None:
    name = f"pressroom-outage-{uuid.uuid4().hex[:8]}"

    def kill() -> None:  # every connection of the worker, twice a second for 5 s
        admin = create_engine(pg_base_url)
        for _ in range(10):
            with admin.begin() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = :name"
                    ),
                    {"name": name},
                )
            time.sleep(0.5)
        admin.dispose()

    cut_and_resume(tmp_path, smtp_server, capsys, pg_url, kill, {"PGAPPNAME": name})


def cut_and_resume(
    tmp_path: Path,
    smtp_server: Callable[..., SmtpServer],
    capsys: pytest.CaptureFixture[str],
    store_url: str | None,
    fault: Callable[[], None],
    env: dict[str, str] | None = None,
) -> None:
    """A worker's catch-up digest; ``fault`` cuts the store mid-send, then it answers again."""
    handler = Recorder(delay=0.03)
    server = smtp_server(handler)
    site = make_site(
        tmp_path, smtp=(server.host, server.port), count=COUNT, busy_timeout=BUSY,
        store_url=store_url, extra=daily_due_now() + '[feeds]\nwatch = "0"\n',
    )  # fmt: skip
    worker = start_pressroom(site, "run", env=env)
    try:
        deadline = time.monotonic() + 60
        while len(handler.received) < 40:
            assert time.monotonic() < deadline, "the catch-up digest did not start"
            time.sleep(0.02)
        fault()
        released = time.monotonic()
        while len(handler.by_recipient()) < COUNT:  # within a minute of the lock's end
            assert time.monotonic() - released < 60, (
                f"{len(handler.by_recipient())} of {COUNT} got the digest a minute after the lock"
            )
            time.sleep(0.2)
        time.sleep(2)  # the resumed run records its end
        with site.store.read() as conn:
            rows = [
                runs.JobRunRow.from_row(r._mapping)
                for r in conn.execute(job_runs.select().where(job_runs.c.schedule == "daily"))
            ]
        outcomes = [r.outcome for r in rows]
        assert JobOutcome.RUNNING not in outcomes, rows  # no orphan
        assert JobOutcome.ABANDONED not in outcomes, rows  # its end was written, not lost
        assert outcomes[-1] is JobOutcome.OK, rows  # the resume finished the period
        assert any(r.outcome is JobOutcome.FAILED and "store" in (r.error or "") for r in rows)
        assert sum(handler.by_recipient().values()) - COUNT <= 2  # in flight: 2 connections
        assert len({r.worker for r in rows}) == 1
        capsys.readouterr()
        code = main(["--config", str(site.config), "status", "--json"])
        data = json.loads(capsys.readouterr().out)
        daily = next(s for s in data["schedules"] if s["name"] == "daily")
        assert code == 0, json.dumps(daily, indent=1)
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=90)
        site.store.dispose()
    assert "Traceback" not in err, err
