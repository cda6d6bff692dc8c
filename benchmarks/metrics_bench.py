"""How much one ``GET /metrics`` scrape costs on a big store.

    python benchmarks/metrics_bench.py [--deliveries 1000000] [--url sqlite:///...]

Fills a store with ``--deliveries`` delivery rows (``--subscribers`` per digest run, one
run per day; every run completed but the last, which is open and half sent), plus a
year of feeds runs in ``job_runs``, then times scrapes of the real endpoint (the
Starlette app through its test client, so routing and rendering are included):

- **cold**: the first scrape of a web process (it counts every run once);
- **warm**: the next scrapes (closed runs' counts are kept; only the open run is counted);
- **naive**: the obvious query a scrape could make instead, every time: every delivery
  counted by schedule and status (``deliveries`` joined to ``digests``, grouped).

Prints medians and the ratio naive / warm.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kits"))

import support

from pressroom.models import Frequency
from pressroom.store.digests import complete_digest, open_digest
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import deliveries, digests, job_runs, subscribers
from pressroom.web import create_app


def fill(store: Store, total: int, per_run: int) -> None:
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(
            insert(subscribers),
            [
                {"email": f"u{i}@example.org", "email_key": f"u{i}@example.org",
                 "public_key": f"k{i:030d}", "status": "active", "created_at": now,
                 "updated_at": now}
                for i in range(per_run)
            ],
        )  # fmt: skip
    ids = [int(i) for (i,) in store.engine.connect().execute(select(subscribers.c.id))]
    runs = max(1, total // per_run)
    for n in range(runs):
        day = now - timedelta(days=runs - n)
        with store.write() as conn:
            digest, _ = open_digest(
                conn, schedule="daily", period=f"p{n}", frequency=Frequency.DAILY,
                window_start=day, window_end=day, article_ids=[], now=day,
            )  # fmt: skip
            last = n == runs - 1
            rows = [
                {"digest_id": digest.id, "subscriber_id": s,
                 "status": ("queued" if last and k % 2 else "sent") if k % 50 else "failed"}
                for k, s in enumerate(ids)
            ]  # fmt: skip
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(deliveries), rows[start : start + 10_000])
            if not last:
                complete_digest(conn, digest.id, day, "")
    with store.write() as conn:
        start = now - timedelta(days=365)
        conn.execute(
            insert(job_runs),
            [
                {"job": "feeds", "schedule": "feeds",
                 "started_at": start + timedelta(minutes=15 * i),
                 "finished_at": start + timedelta(minutes=15 * i, seconds=2), "outcome": "ok",
                 "worker": "bench:1:0", "produced": 3}
                for i in range(35_040)
            ],
        )  # fmt: skip
    if store.is_sqlite:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()


def naive(store: Store) -> None:
    query = (
        select(digests.c.schedule, deliveries.c.status, func.count())
        .join(digests, digests.c.id == deliveries.c.digest_id)
        .group_by(digests.c.schedule, deliveries.c.status)
    )
    with store.read() as conn:
        conn.execute(query).all()


def timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--url", help="a store URL (default: a new SQLite file)")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
        store = open_store(url)
        started = time.perf_counter()
        fill(store, args.deliveries, args.subscribers)
        print(f"filled {args.deliveries:,} deliveries in {time.perf_counter() - started:.0f} s")
        settings = support.make_settings(Path(folder))
        cold = []
        for _ in range(3):  # each a fresh web process' first scrape
            app = create_app(settings, store, send=None)
            with TestClient(app) as client:
                cold += timed(lambda c=client: c.get("/metrics").raise_for_status(), 1)
        app = create_app(settings, store)
        with TestClient(app) as client:
            client.get("/metrics")
            warm = timed(lambda: client.get("/metrics").raise_for_status(), args.repeat)
        baseline = timed(lambda: naive(store), args.repeat)
        w, n, c = statistics.median(warm), statistics.median(baseline), statistics.median(cold)
        print(f"store: {store.engine.dialect.name}")
        print(f"scrape, cold (first of a process): {c:8.1f} ms")
        print(f"scrape, warm (median of {args.repeat}): {w:8.1f} ms")
        print(f"naive count of every delivery:    {n:8.1f} ms")
        print(f"ratio naive / warm: {n / w:.1f}x")
        store.dispose()


if __name__ == "__main__":
    main()
