"""``/metrics`` per source (issue 21): each ``[sources.<name>]``'s syncs by outcome and the
articles they changed carry a ``source`` label, whose values are the configured names alone;
the ``sources`` job's own series stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import support
from sqlalchemy import update
from starlette.testclient import TestClient
from support import FakeClock
from test_metrics import metrics_listener, samples, value
from webkit import Outbox

from pressroom.models import JobOutcome
from pressroom.store import runs
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import job_runs
from pressroom.web import create_app

SOURCES = """
[sources.blog]
kind = "sql"
url = "sqlite:///blog.db"
query = "SELECT 1 WHERE :since"

[sources.cms]
kind = "sql"
url = "sqlite:///cms.db"
query = "SELECT 1 WHERE :since"
"""


def sync(store: Store, source: str, outcome: JobOutcome, produced: int = 0) -> int:
    """A finished run of the sources job named after ``source``; its id."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    with store.write() as conn:
        run = runs.start_run(conn, job="sources", schedule=source, started_at=start, worker="w")
        runs.finish_run(
            conn, run, finished_at=start + timedelta(seconds=1), outcome=outcome, summary="",
            produced=produced,
        )  # fmt: skip
    return run


def scrape(tmp_path: Path, store: Store) -> dict:  # type: ignore[type-arg]
    settings = support.make_settings(tmp_path, SOURCES, store={"url": "sqlite:///store.db"})
    app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
    metrics_listener(app)
    with TestClient(app) as client:
        found: dict = samples(client.get("/metrics").text)  # type: ignore[type-arg]
    return found


def test_syncs_failures_and_articles_carry_the_source(tmp_path: Path, store_url: str) -> None:
    store = open_store(store_url)
    try:
        sync(store, "blog", JobOutcome.OK, 3)
        sync(store, "blog", JobOutcome.OK, 2)
        sync(store, "blog", JobOutcome.FAILED)
        sync(store, "gone", JobOutcome.FAILED)  # a source no longer in the config
        with store.write() as conn:  # a sync of cms whose holder died ten minutes ago
            start = datetime.now(UTC) - timedelta(minutes=10)
            dead = runs.start_run(conn, job="sources", schedule="cms", started_at=start,
                                  worker="w")  # fmt: skip
            conn.execute(update(job_runs).where(job_runs.c.id == dead).values(seen_at=start))
        found = scrape(tmp_path, store)
    finally:
        store.dispose()
    syncs = "pressroom_source_syncs_total"
    assert value(found, syncs, source="blog", outcome="ok") == 2
    assert value(found, syncs, source="blog", outcome="failed") == 1
    assert value(found, syncs, source="cms", outcome="abandoned") == 1
    assert value(found, syncs, source="cms", outcome="ok") == 0
    assert value(found, "pressroom_source_articles_changed_total", source="blog") == 5
    assert value(found, "pressroom_source_articles_changed_total", source="cms") == 0
    named = {dict(labels).get("source") for _, labels in found}
    assert named == {None, "blog", "cms"}  # the configured names, and nothing else
    # the job's own series are unchanged: every source's runs, the old one's too
    job = {"pressroom_job": "sources"}
    assert value(found, "pressroom_job_runs_total", outcome="failed", **job) == 2
    assert value(found, "pressroom_job_runs_total", outcome="ok", **job) == 2


def test_every_configured_source_and_outcome_is_at_zero_from_the_first_scrape(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        found = scrape(tmp_path, store)
    finally:
        store.dispose()
    for source in ("blog", "cms"):
        for outcome in (o.value for o in JobOutcome if o is not JobOutcome.RUNNING):
            assert value(found, "pressroom_source_syncs_total", source=source, outcome=outcome) == 0


def test_no_source_series_without_sources(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        settings = support.make_settings(tmp_path, store={"url": "sqlite:///store.db"})
        app = create_app(settings, store, FakeClock(datetime.now(UTC)), send=Outbox().send)
        metrics_listener(app)
        with TestClient(app) as client:
            text = client.get("/metrics").text
    finally:
        store.dispose()
    assert "pressroom_source_syncs_total{" not in text
    assert "# TYPE pressroom_source_syncs_total counter" in text  # the family, empty
