"""``GET /metrics``: values that match the store, Prometheus' own checks, the token."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import support
from deliverykit import add_digest, add_subscribers
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.testclient import TestClient
from support import FakeClock
from webkit import Outbox, make_settings

from pressroom.config import Settings
from pressroom.models import DeliveryStatus, JobOutcome, SubscriberStatus
from pressroom.store import deliveries as ledger
from pressroom.store import runs
from pressroom.store.digests import complete_digest
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import job_runs
from pressroom.store.subscriber_writes import set_status
from pressroom.store.websub_pings import add_pings
from pressroom.subscribers.lifecycle import send_bounce_rule
from pressroom.web import create_app

PROMTOOL = shutil.which("promtool")
ROOT = Path(__file__).resolve().parents[2]
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (Debian prometheus)")


def metrics_listener(app: Starlette) -> None:
    """Let the test client's requests come in as if by the metrics listener."""
    app.state.doors.metrics.add(("testserver", 80))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(found[(name, tuple(sorted(labels.items())))])


def seed(store: Store) -> None:
    """Two digest runs (one completed, one open), subscribers, job runs, two workers."""
    people = add_subscribers(store, 8)
    done = add_digest(store)
    with store.write() as conn:
        ledger.enqueue(conn, done, people[:4])
        claimed = ledger.claim(conn, done, "s:1:0", 4)
        marks = [
            DeliveryStatus.SENT,
            DeliveryStatus.SENT,
            DeliveryStatus.SENT,
            DeliveryStatus.FAILED,
        ]
        ledger.apply_outcomes(
            conn,
            [ledger.Outcome(d, s.id, m) for (d, s), m in zip(claimed, marks, strict=True) if s],
            on_bounce=send_bounce_rule(1),
        )
        complete_digest(conn, done, datetime.now(UTC) - timedelta(hours=2), "sent 3, failed 1")
    with store.write() as conn:
        current = storekit_open(conn)
        ledger.enqueue(conn, current, people)
        claimed = ledger.claim(conn, current, "s:2:0", 2)
        ledger.apply_outcomes(
            conn,
            [ledger.Outcome(claimed[0][0], people[0], DeliveryStatus.SENT)],
            on_bounce=send_bounce_rule(1),
        )
        set_status(conn, people[7], SubscriberStatus.BOUNCED, datetime.now(UTC))
    start = datetime.now(UTC) - timedelta(minutes=10)
    with store.write() as conn:
        for outcome, produced in ((JobOutcome.OK, 5), (JobOutcome.FAILED, 0), (JobOutcome.OK, 2)):
            run = runs.start_run(conn, job="feeds", schedule="feeds", started_at=start, worker="w")
            runs.finish_run(
                conn, run, finished_at=start + timedelta(seconds=3), outcome=outcome,
                summary="", produced=produced,
            )  # fmt: skip
        silent = runs.start_run(conn, job="digest", schedule="daily", started_at=start, worker="w")
        conn.execute(  # a dead holder: its heartbeat stopped ten minutes ago
            update(job_runs).where(job_runs.c.id == silent).values(seen_at=start)
        )
        runs.start_run(conn, job="digest", schedule="daily", started_at=start, worker="live")
        runs.touch_worker(conn, "h:1:0", host="h", pid=1, started_at=start)


def storekit_open(conn) -> int:  # type: ignore[no-untyped-def]
    from storekit import open_run

    return open_run(conn, period="2026-11-30").id


@pytest.mark.slow
def test_metrics_carry_the_families_with_the_stores_values(tmp_path: Path, store_url: str) -> None:
    settings = make_settings(tmp_path)
    store = open_store(store_url)
    seed(store)
    with store.write() as conn:  # two builds' pings to one hub, as feeds.websub records them
        add_pings(conn, "https://hub.example/", ok=3, failed=0, now=datetime.now(UTC))
        add_pings(conn, "https://hub.example/", ok=2, failed=4, now=datetime.now(UTC))
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    metrics_listener(app)
    with TestClient(app) as client:
        response = client.get("/metrics")
        again = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    assert samples(again.text).keys() == found.keys()
    daily = {"schedule": "daily"}
    assert value(found, "pressroom_deliveries_total", status="sent", **daily) == 4
    assert value(found, "pressroom_deliveries_total", status="failed", **daily) == 1
    assert value(found, "pressroom_deliveries_total", status="uncertain", **daily) == 0
    assert value(found, "pressroom_digest_open_deliveries", status="queued", **daily) == 6
    assert value(found, "pressroom_digest_open_deliveries", status="sending", **daily) == 1
    assert value(found, "pressroom_digest_runs", status="completed", **daily) == 1
    assert value(found, "pressroom_digest_runs", status="open", **daily) == 1
    assert value(found, "pressroom_subscribers", status="active") == 7
    assert value(found, "pressroom_subscribers", status="bounced") == 1
    assert value(found, "pressroom_job_runs_total", pressroom_job="feeds", outcome="ok") == 2
    assert value(found, "pressroom_job_runs_total", pressroom_job="feeds", outcome="failed") == 1
    assert (
        value(found, "pressroom_job_runs_total", pressroom_job="digest", outcome="abandoned") == 1
    )
    assert value(found, "pressroom_job_runs_running", pressroom_job="digest") == 1
    assert value(found, "pressroom_job_last_run_duration_seconds", pressroom_job="feeds") == 3
    assert value(found, "pressroom_feed_files_written_total") == 7
    assert value(found, "pressroom_feed_build_seconds_total") == pytest.approx(9, abs=0.01)
    age = value(
        found,
        "pressroom_schedule_last_success_age_seconds",
        schedule="daily",
        pressroom_job="digest",
    )
    assert 7190 < age < 7300  # completed two hours ago
    feeds_age = value(
        found,
        "pressroom_schedule_last_success_age_seconds",
        schedule="feeds",
        pressroom_job="feeds",
    )
    assert 590 < feeds_age < 700
    first = value(
        found, "pressroom_schedule_first_run_age_seconds", schedule="daily", pressroom_job="digest"
    )
    assert 590 < first < 700  # the oldest run of daily started ten minutes ago
    assert value(found, "pressroom_job_runs_total", pressroom_job="bounces", outcome="failed") == 0
    assert not any(("job", name) in labels for (_, labels) in found for name in ("feeds", "digest"))
    assert (
        value(found, "pressroom_schedule_interval_seconds", schedule="feeds", pressroom_job="feeds")
        == 900
    )
    assert value(found, "pressroom_worker_heartbeat_age_seconds", worker="h:1:0", host="h") < 60
    assert value(found, "pressroom_workers_alive") == 1
    assert value(found, "pressroom_bounces_total", kind="hard") == 0  # no bounce mail yet
    assert value(found, "pressroom_complaints_total") == 0
    hub = {"hub": "https://hub.example/"}
    assert value(found, "pressroom_websub_pings_total", outcome="ok", **hub) == 5
    assert value(found, "pressroom_websub_pings_total", outcome="failed", **hub) == 4
    assert "@" not in response.text  # no address ever becomes a label
    store.dispose()


def test_metrics_are_not_on_the_public_listener_without_a_token(tmp_path: Path) -> None:
    """Subscriber counts read before and after POST /subscribe would tell who is known."""
    settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    with TestClient(app) as client:
        public = client.get("/metrics")
        assert public.status_code == 404 and "pressroom_" not in public.text
        assert "找不到这个页面" in public.text  # the site's own not-found page
        metrics_listener(app)
        assert client.get("/metrics").status_code == 200
        assert client.get("/").status_code == 404  # the metrics listener serves nothing else
    store.dispose()


def test_a_metrics_token_is_required_once_set(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_token="s3cret-scrape-token")
    store = open_store(settings.store_url)
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"]
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert ok.status_code == 200 and "pressroom_workers_alive" in ok.text
        for _ in range(30):  # no public rate limit applies
            assert (
                client.get(
                    "/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}
                ).status_code
                == 200
            )
    store.dispose()


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    done = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(ROOT / "examples" / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


@needs_promtool
def test_the_alert_rules_fire_when_they_should() -> None:
    """promtool's rule unit tests: each alert on series that should (and should not) fire it,
    scraped by two web processes at once (no alert counts the store twice)."""
    done = subprocess.run(
        [
            str(PROMTOOL),
            "test",
            "rules",
            str(Path(__file__).parent / "prometheus" / "alerts_test.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
@pytest.mark.slow
def test_promtool_accepts_a_real_scrape_of_pressroom_serve(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    seed(store)
    store.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(settings.source), "serve",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"serving (http://[0-9.]+:\d+/)", line)
        assert match, line
        listener = re.search(
            r"metrics on (http://127\.0\.0\.1:\d+/metrics)", server.stdout.readline()
        )
        assert listener, "no metrics listener"
        public = httpx.get(match.group(1) + "metrics", timeout=10)
        assert public.status_code == 404 and "pressroom_" not in public.text  # off the public door
        assert httpx.get(listener.group(1).replace("/metrics", "/"), timeout=10).status_code == 404
        scrape = httpx.get(listener.group(1), timeout=10)
        assert scrape.status_code == 200
        checked = subprocess.run(
            [str(PROMTOOL), "check", "metrics"],
            input=scrape.text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.strip() == "" and checked.stderr.strip() == ""
        assert "pressroom_deliveries_total{" in scrape.text
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
        time.sleep(0)


@pytest.mark.slow
def test_a_later_scrape_sees_what_changed_since_the_first(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    seed(store)
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    metrics_listener(app)
    with TestClient(app) as client:
        before = samples(client.get("/metrics").text)
        with store.write() as conn:  # a new feeds build, and the open run sends one more
            run = runs.start_run(
                conn, job="feeds", schedule="feeds", started_at=datetime.now(UTC), worker="w"
            )
            runs.finish_run(
                conn, run, finished_at=datetime.now(UTC), outcome=JobOutcome.OK, summary="",
                produced=4,
            )  # fmt: skip
            current = max(d for d in digest_ids(conn))
            claimed = ledger.claim(conn, current, "s:3:0", 1)
            ledger.apply_outcomes(
                conn,
                [ledger.Outcome(claimed[0][0], claimed[0][1].id, DeliveryStatus.SENT)],  # type: ignore[union-attr]
                on_bounce=send_bounce_rule(1),
            )
        after = samples(client.get("/metrics").text)
    store.dispose()
    sent = ("pressroom_deliveries_total", (("schedule", "daily"), ("status", "sent")))
    ok = ("pressroom_job_runs_total", (("outcome", "ok"), ("pressroom_job", "feeds")))
    files = ("pressroom_feed_files_written_total", ())
    assert after[sent] == before[sent] + 1
    assert after[ok] == before[ok] + 1
    assert after[files] == before[files] + 4


def digest_ids(conn) -> list[int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from pressroom.store.schema import digests

    return [int(i) for (i,) in conn.execute(select(digests.c.id))]


def test_the_rules_and_the_dashboard_use_only_metrics_pressroom_exports(tmp_path: Path) -> None:
    source = '[sources.blog]\nkind = "sql"\nurl = "sqlite:///b.db"\nquery = "SELECT :since"\n'
    settings = support.make_settings(tmp_path, source, store={"url": "sqlite:///store.db"})
    store = open_store(settings.store_url)
    seed(store)
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    metrics_listener(app)
    with TestClient(app) as client:
        found = samples(client.get("/metrics").text)
    exported = {name for name, _ in found}
    labels = {label for _, pairs in found for label, _ in pairs}
    assert "job" not in labels  # Prometheus's own target label: never one of ours
    store.dispose()
    for path in (
        ROOT / "examples" / "prometheus" / "alerts.yml",
        ROOT / "examples" / "grafana" / "pressroom-dashboard.json",
    ):
        used = set(re.findall(r"pressroom_[a-z_]+", path.read_text(encoding="utf-8")))
        used = {name for name in used if not name.endswith("_") and name not in labels}
        assert used - exported == set(), path.name


def test_every_job_and_outcome_is_at_zero_from_the_first_scrape(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    metrics_listener(app)
    with TestClient(app) as client:
        found = samples(client.get("/metrics").text)
    store.dispose()
    shown = [o.value for o in JobOutcome if o is not JobOutcome.RUNNING]
    for job in ("feeds", "digest", "bounces"):
        for outcome in shown:
            assert value(found, "pressroom_job_runs_total", pressroom_job=job, outcome=outcome) == 0
    ages = [k for k in found if k[0] == "pressroom_schedule_first_run_age_seconds"]
    assert ages == []  # no schedule has run: nothing is due yet


def test_a_silent_run_that_ends_later_is_counted_as_it_ended(
    tmp_path: Path, store_url: str
) -> None:
    settings = make_settings(tmp_path)
    store = open_store(store_url)
    start = datetime.now(UTC) - timedelta(minutes=5)
    with store.write() as conn:
        run = runs.start_run(conn, job="digest", schedule="daily", started_at=start, worker="w")
        conn.execute(update(job_runs).where(job_runs.c.id == run).values(seen_at=start))
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    metrics_listener(app)
    key = {"pressroom_job": "digest"}
    with TestClient(app) as client:
        before = samples(client.get("/metrics").text)
        with store.write() as conn:  # its holder comes back and records how it ended
            runs.finish_run(
                conn, run, finished_at=datetime.now(UTC), outcome=JobOutcome.OK, summary=""
            )
        after = samples(client.get("/metrics").text)
    store.dispose()
    assert value(before, "pressroom_job_runs_total", outcome="abandoned", **key) == 1
    assert value(after, "pressroom_job_runs_total", outcome="abandoned", **key) == 0
    assert value(after, "pressroom_job_runs_total", outcome="ok", **key) == 1
