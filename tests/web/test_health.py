"""``/healthz``: store reachability and the worker heartbeat's age."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from starlette.testclient import TestClient
from webkit import FakeClock, Outbox, make_settings

from pressroom.store.engine import Store, open_store
from pressroom.store.runs import touch_worker
from pressroom.web import create_app


def test_healthy_without_a_worker(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "store": "ok",
        "worker_seen_at": None,
        "worker_heartbeat_age_s": None,
    }
    assert response.headers["cache-control"] == "no-store"


def test_reports_the_newest_heartbeat_age(
    client: TestClient, web_store: Store, clock: FakeClock
) -> None:
    with web_store.write() as conn:
        for pid, age in ((1, 300), (2, 42)):
            touch_worker(
                conn,
                f"host:{pid}:0",
                host="host",
                pid=pid,
                started_at=clock() - timedelta(hours=1),
                now=clock() - timedelta(seconds=age),
            )
    body = client.get("/healthz").json()
    assert body["worker_heartbeat_age_s"] == 42.0
    assert body["worker_seen_at"] == (clock() - timedelta(seconds=42)).isoformat()


def test_503_when_the_store_does_not_answer(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", migrate=False)
    app = create_app(settings, store, clock, send=Outbox().send)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    store.dispose()
