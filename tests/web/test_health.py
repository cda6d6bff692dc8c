"""``/healthz``: store reachability and the worker heartbeat's age."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from starlette.testclient import TestClient
from webkit import FakeClock, Outbox, make_settings

from pressroom.store.engine import Store, open_store
from pressroom.store.runs import newest_heartbeat, touch_worker
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


def test_reports_the_newest_heartbeat_age_by_the_stores_clock(
    client: TestClient, web_store: Store, clock: FakeClock
) -> None:
    for pid in (1, 2):  # the app's clock is days off: the age comes from the store's
        with web_store.write() as conn:
            touch_worker(
                conn, f"host:{pid}:0", host="host", pid=pid, started_at=clock() - timedelta(hours=1)
            )
        time.sleep(0.3)
    body = client.get("/healthz").json()
    assert 0.25 <= body["worker_heartbeat_age_s"] < 5
    with web_store.read() as conn:
        assert body["worker_seen_at"] == newest_heartbeat(conn).isoformat()  # type: ignore[union-attr]


def test_503_when_the_store_does_not_answer(tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", migrate=False)
    app = create_app(settings, store, clock, send=Outbox().send)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    store.dispose()
