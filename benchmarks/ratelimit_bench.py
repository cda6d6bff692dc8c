"""Rate-limit benchmark: the cost of a shared counter per request, against a per-process one.

Usage::

    python benchmarks/ratelimit_bench.py [--hits 2000] [--backends sqlite,postgres,redis]

Each backend counts ``--hits`` requests from 1,750 client addresses through
:class:`pressroom.web.ratelimit.SharedRateLimiter` (limits high enough that every hit
reaches the shared counter), and the same hits through the per-process token bucket alone
(the baseline: what each web process did before, cheap but counting alone). PostgreSQL
needs ``$PRESSROOM_TEST_PG_URL`` (a fresh schema is made and dropped); Redis is read at
``$PRESSROOM_BENCH_REDIS`` (default ``redis://127.0.0.1:6379/0``). Prints the median and
p99 per hit and the ratio shared / per-process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from pressroom.store.engine import open_store
from pressroom.web.ratelimit import (
    Counter,
    RateLimiter,
    RedisCounter,
    SharedRateLimiter,
    StoreCounter,
)

UNLIMITED = 10**9


def timed(hit: Callable[[str], float], hits: int) -> list[float]:
    times = []
    for n in range(hits):
        key = f"10.0.{n % 250}.{n % 7}"
        started = time.perf_counter()
        hit(key)
        times.append(time.perf_counter() - started)
    return times


@contextmanager
def counter_for(backend: str) -> Iterator[Counter]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
            yield StoreCounter(store)
            store.dispose()
    elif backend == "postgres":
        base = os.environ["PRESSROOM_TEST_PG_URL"]
        schema = f"bench_rl_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        store = open_store(f"{base}{sep}options=-csearch_path%3D{schema}")
        try:
            yield StoreCounter(store)
        finally:
            store.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        url = os.environ.get("PRESSROOM_BENCH_REDIS", "redis://127.0.0.1:6379/0")
        counter = RedisCounter(url, f"pressroom-bench:{uuid.uuid4().hex}")
        try:
            yield counter
        finally:
            keys = counter.client.keys(f"{counter.namespace}:*")
            if keys:
                counter.client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgres,redis")
    args = parser.parse_args()
    print(f"{'backend':<10} {'shared median':>14} {'p99':>9} {'per-process':>12} {'ratio':>7}")
    for backend in args.backends.split(","):
        with counter_for(backend) as counter:
            shared = SharedRateLimiter("bench", counter, UNLIMITED, burst=UNLIMITED)
            shared_times = timed(shared.hit, args.hits)
        local_times = timed(RateLimiter(UNLIMITED, burst=UNLIMITED).hit, args.hits)
        median, local = statistics.median(shared_times), statistics.median(local_times)
        p99 = sorted(shared_times)[int(len(shared_times) * 0.99)]
        print(
            f"{backend:<10} {median * 1e3:>11.3f} ms {p99 * 1e3:>6.2f} ms "
            f"{local * 1e6:>9.1f} us {median / local:>6.0f}x"
        )
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
