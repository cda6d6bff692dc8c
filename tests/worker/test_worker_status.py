"""``pressroom status``: schedules, last runs, the current digest, the worker's heartbeat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from workerfakes import add_deliveries, add_digest_run

from pressroom.cli import main
from pressroom.config import Settings
from pressroom.store import runs
from pressroom.store.engine import Store, open_store
from pressroom.worker.scheduler import worker_config
from pressroom.worker.status import collect_status

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
SCHEDULES = """
[[schedules]]
name = "feeds"
job = "feeds"
cron = "*/15 * * * *"
[[schedules]]
name = "morning"
job = "digest"
cron = "0 8 * * *"
"""


@pytest.fixture
def seeded(make_settings) -> Iterator[tuple[Settings, Store]]:  # type: ignore[no-untyped-def]
    settings = make_settings(SCHEDULES)
    store = open_store(settings.store_url)
    yield settings, store
    store.dispose()


def record(
    store: Store, schedule: str, job: str, outcome: str, summary: str, error: str | None = None
) -> None:
    with store.write() as conn:
        run_id = runs.start_run(
            conn, job=job, schedule=schedule, started_at=NOW - timedelta(minutes=5), worker="h:1:0"
        )
        runs.finish_run(
            conn,
            run_id,
            finished_at=NOW - timedelta(minutes=4),
            outcome=outcome,
            summary=summary,
            error=error,
        )


def seed_digest(store: Store) -> None:
    created = NOW - timedelta(hours=4)
    digest_id = add_digest_run(
        store, "morning", created, completed=False, period="daily:2026-11-29"
    )
    add_deliveries(store, digest_id, ["sent", "sent", "failed", "queued"], NOW)
    with store.write() as conn:
        runs.touch_worker(conn, "h:1:0", host="h", pid=1, started_at=NOW)


def test_status_shows_next_fires_in_local_time_runs_deliveries_and_the_worker(
    seeded: tuple[Settings, Store],
) -> None:
    settings, store = seeded
    record(store, "feeds", "feeds", "ok", "wrote 3, kept 66, removed 0")
    record(store, "morning", "digest", "ok", "digest daily:2026-11-29: sent 2, failed 1")
    seed_digest(store)
    report = collect_status(worker_config(settings), store, NOW)
    assert not report.failed
    text = "\n".join(report.lines())
    assert "feeds (feeds, '*/15 * * * *' Asia/Shanghai): next 2026-11-29 12:15 CST" in text
    assert "morning (digest, '0 8 * * *' Asia/Shanghai): next 2026-11-30 08:00 CST" in text
    shown = "last run: ok in 60.0s at 2026-11-29 11:55 CST (schedule, by h:1:0): wrote 3, kept 66"
    assert shown in text
    assert "Digest morning daily:2026-11-29 (open, started 2026-11-29 08:00 CST)" in text
    assert "deliveries failed 1, queued 1, sent 2" in text
    assert "Last feed build: 2026-11-29 11:55 CST: wrote 3, kept 66, removed 0" in text
    assert "Worker: alive: h:1:0 (heartbeat 0s ago)" in text
    data = report.as_json()
    assert data["worker_alive"] is True and data["failed"] is False
    assert data["schedules"][1]["next_fire"] == "2026-11-30T00:00:00+00:00"
    assert data["schedules"][1]["next_fire_local"] == "2026-11-30 08:00 CST"
    assert data["digests"][0]["deliveries"] == {"failed": 1, "queued": 1, "sent": 2}
    assert data["last_feed_build"]["summary"] == "wrote 3, kept 66, removed 0"
    assert data["workers"][0]["heartbeat_age_s"] < 5 and data["workers"][0]["alive"]


def test_status_without_any_run_or_worker(seeded: tuple[Settings, Store]) -> None:
    settings, store = seeded
    report = collect_status(worker_config(settings), store, NOW + timedelta(hours=1))
    text = "\n".join(report.lines())
    assert "last run: never" in text and "Last feed build: never" in text
    assert "Worker: none alive" in text
    assert report.as_json()["worker_alive"] is False and not report.failed


def test_status_command_exits_1_when_a_last_run_failed(
    seeded: tuple[Settings, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, store = seeded
    config = str(settings.source)
    record(store, "feeds", "feeds", "ok", "wrote 1")
    assert main(["--config", config, "status"]) == 0
    record(
        store,
        "morning",
        "digest",
        "failed",
        "",
        error="DeliveryError: cannot reach smtp.example.com:587",
    )
    capsys.readouterr()
    assert main(["--config", config, "status", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    morning = next(s for s in data["schedules"] if s["name"] == "morning")
    assert morning["failed"] is True and morning["last_run"]["outcome"] == "failed"
    assert "cannot reach smtp.example.com" in morning["last_run"]["error"]
    assert main(["--config", config, "status"]) == 1
    assert "last run: failed" in capsys.readouterr().out
    record(store, "morning", "digest", "ok", "sent 4")  # a later success clears it
    assert main(["--config", config, "status"]) == 0


def test_text_status_names_a_failed_run_of_a_job_without_a_schedule(
    seeded: tuple[Settings, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, store = seeded
    config = str(settings.source)
    with store.write() as conn:  # `bounces process` was killed; no schedule runs bounces
        runs.start_run(
            conn, job="bounces", schedule="bounces", started_at=datetime.now(UTC) - timedelta(
                minutes=5), worker="h:1:0",
        )  # fmt: skip
        runs.abandon_runs(conn, silent_for=timedelta(seconds=0))
    capsys.readouterr()
    assert main(["--config", config, "status"]) == 1
    out = capsys.readouterr().out
    assert "job bounces (outside the schedules above):" in out
    assert "last real run: abandoned" in out


def test_text_status_escapes_control_characters_of_a_runs_error(  # type: ignore[no-untyped-def]
    make_settings, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run's error can quote a stranger (a hub's answer, a source's error): ESC and CR
    reach the terminal escaped, so they cannot recolour or rewrite the line."""
    settings = make_settings(SCHEDULES, store_url)
    store = open_store(settings.store_url)
    try:
        hostile = "hub said \x1b[2J\x1b[31mgone\rok"
        record(store, "morning", "digest", "failed", "sent 0\x1b[8m", error=hostile)
        assert main(["--config", str(settings.source), "status"]) == 1
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\r" not in out
        shown = "sent 0\\x1b[8m (error: hub said \\x1b[2J\\x1b[31mgone\\x0dok)"
        assert shown in out
    finally:
        store.dispose()
