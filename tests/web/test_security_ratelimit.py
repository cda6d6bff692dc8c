"""Rate limits that hold across web processes and machines.

The counters live in the store (``rate_limits``) or in Redis (``[web] redis_url``), so N
``pressroom serve`` processes allow the limit once, not N times: tested with two real
processes on one PostgreSQL store and with two on Redis (127.0.0.1:6379; skipped with the
reason when no Redis answers there).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from support import toml_text

from pressroom.errors import StoreUnavailable
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import rate_limits
from pressroom.web import ratelimit
from pressroom.web.ratelimit import (
    STORE_WAIT_S,
    RateLimiter,
    RedisCounter,
    SharedRateLimiter,
    StoreCounter,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Wall:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class MemoryCounter:
    """The counter contract in a dict (what the store and Redis do, for the window maths)."""

    hits: dict[tuple[str, int], int] = field(default_factory=dict)

    def hit(self, bucket: str, slot: int, expires_at: int) -> tuple[int, int]:
        self.hits[bucket, slot] = self.hits.get((bucket, slot), 0) + 1
        return self.hits[bucket, slot], self.hits.get((bucket, slot - 1), 0)


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def two_processes(
    counter: object, wall: Wall, per_minute: float, burst: int
) -> list[SharedRateLimiter]:
    """Two limiters with their own local buckets sharing one counter: two web processes."""
    return [
        SharedRateLimiter("subscribe", counter, per_minute, burst=burst, wall=wall,  # type: ignore[arg-type]
                          local=RateLimiter(per_minute, burst=burst, monotonic=Ticker()))
        for _ in range(2)
    ]  # fmt: skip


def test_two_processes_share_one_limit() -> None:
    wall = Wall()
    first, second = two_processes(MemoryCounter(), wall, per_minute=5, burst=5)
    allowed = [limiter.hit("203.0.113.9") == 0.0 for _ in range(5) for limiter in (first, second)]
    assert allowed.count(True) == 5  # not 10
    assert first.hit("198.51.100.1") == 0.0  # another client has its own count


def test_retry_after_is_when_the_next_hit_fits() -> None:
    wall = Wall()
    counter = MemoryCounter()
    first, second = two_processes(counter, wall, per_minute=6, burst=3)  # 3 per 30 s
    for limiter in (first, second, first):
        assert limiter.hit("k") == 0.0
    wait = second.hit("k")
    assert wait > 0
    probe = SharedRateLimiter("subscribe", MemoryCounter(dict(counter.hits)), 6, burst=3,
                              wall=Wall(wall.now + wait - 0.5),
                              local=RateLimiter(6, burst=3, monotonic=Ticker()))  # fmt: skip
    assert probe.hit("k") > 0, "allowed before Retry-After"
    wall.now += wait + 0.01
    assert first.hit("k") == 0.0 or second.hit("k") == 0.0


def test_the_window_slides_instead_of_resetting() -> None:
    """Just after a window boundary the previous window still counts (no double burst)."""
    wall = Wall(1_800_000_000.0 - 1.0)  # one second before a boundary of 60 s windows
    first, second = two_processes(MemoryCounter(), wall, per_minute=5, burst=5)
    assert all(first.hit("k") == 0.0 for _ in range(3)) and all(
        second.hit("k") == 0.0 for _ in range(2)
    )
    wall.now += 2.0  # a new fixed window has begun
    assert first.hit("k") > 0 and second.hit("k") > 0


def test_the_local_bucket_spares_the_shared_counter_a_flood() -> None:
    counter = MemoryCounter()
    (limiter, _other) = two_processes(counter, Wall(), per_minute=5, burst=5)
    for _ in range(1000):
        limiter.hit("flooder")
    assert sum(counter.hits.values()) == 5


def test_a_failing_counter_leaves_each_process_its_own_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Down:
        def hit(self, bucket: str, slot: int, expires_at: int) -> tuple[int, int]:
            raise ConnectionError("connection refused")

    limiter = SharedRateLimiter("subscribe", Down(), 5, burst=5, wall=Wall(),
                                local=RateLimiter(5, burst=5, monotonic=Ticker()))  # fmt: skip
    with caplog.at_level(logging.WARNING, "pressroom.web"):
        results = [limiter.hit("k") for _ in range(7)]
    assert results[:5] == [0.0] * 5 and all(r > 0 for r in results[5:])
    assert sum("each process limits alone" in r.message for r in caplog.records) == 1


# ---------------------------------------------------------------- the store's counters


def test_store_counter_counts_prunes_and_keeps_no_address(store: Store) -> None:
    counter = StoreCounter(store)
    limiter = SharedRateLimiter("address", counter, 3 / 60, burst=3, wall=Wall())
    assert [limiter.hit("reader@example.com") for _ in range(3)] == [0.0] * 3
    assert limiter.hit("reader@example.com") > 0
    assert counter.hit("b", 10, 100) == (1, 0)
    assert counter.hit("b", 11, 100) == (1, 1)
    assert counter.hit("b", 11, 100) == (2, 1)
    with store.read() as conn:
        rows = conn.execute(select(rate_limits)).all()
    hashed = [row for row in rows if row.bucket != "b"]
    assert hashed and all("@" not in row.bucket and len(row.bucket) == 32 for row in hashed)
    counter._next_prune = 0.0  # the next hit prunes (rows that expired in 1970 above)
    counter.hit("c", 1, 2**40)
    with store.read() as conn:
        left = {row.bucket for row in conn.execute(select(rate_limits)).all()}
    assert "b" not in left and "c" in left and limiter.bucket("reader@example.com") in left


@pytest.mark.slow
def test_store_counter_is_atomic_under_concurrency(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Atomicity, not the lock wait: on a loaded machine four threads can outwait the 0.2 s
    # a request gives SQLite's lock (that fallback is tested on its own).
    monkeypatch.setattr(ratelimit, "STORE_WAIT_S", 30.0)
    counter = StoreCounter(store)
    results: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(25):
            current, _previous = counter.hit("shared", 7, 2**40)
            with lock:
                results.append(current)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(1, 101))  # every increment seen exactly once


def test_a_locked_sqlite_store_costs_a_request_half_a_second_not_thirty(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    database = sqlite_store.engine.url.database
    assert database
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        counter = StoreCounter(sqlite_store)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked"):
            counter.hit("k", 1, 2**40)
        assert time.monotonic() - started < STORE_WAIT_S + 1.0
        limiter = SharedRateLimiter("token", counter, 60)
        with caplog.at_level(logging.WARNING, "pressroom.web"):
            assert limiter.hit("k") == 0.0  # fails open; the local bucket still counts
    finally:
        holder.rollback()
        holder.close()
    with sqlite_store.engine.connect() as conn:  # the store's own busy timeout is back
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


# ---------------------------------------------------------------- Redis


def redis_or_skip() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except Exception as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} ({type(exc).__name__}); CI runs one")


def test_redis_counter_counts_and_expires() -> None:
    redis_or_skip()
    namespace = f"pressroom-test:{uuid.uuid4().hex}"
    counter = RedisCounter(REDIS_URL, namespace)
    expires = int(time.time()) + 120
    assert counter.hit("b", 5, expires) == (1, 0)
    assert counter.hit("b", 6, expires) == (1, 1)
    assert counter.hit("b", 6, expires) == (2, 1)
    ttl = counter.client.ttl(f"{namespace}:b:6")
    assert 100 < ttl <= 120
    other = RedisCounter(REDIS_URL, f"pressroom-test:{uuid.uuid4().hex}")
    assert other.hit("b", 6, expires) == (1, 0)  # another site's namespace
    counter.client.delete(*counter.client.keys(f"{namespace}:*"))
    other.client.delete(*other.client.keys(f"{other.namespace}:*"))


# ---------------------------------------------------------------- real processes

LIMIT = 4


def write_site(folder: Path, store_url: str, **web: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict[str, object]] = {
        "site": {"name": "测试新闻"},
        "store": {"url": store_url},
        "feeds": {"output_dir": "public"},
        "mail": {"outbox": "outbox", "from_address": "news@example.com"},
        "web": {
            "secret": "rate-limit-secret-0123456789-abcdefghij",
            "public_url": "http://127.0.0.1:8080/",
            "subscribe_per_minute": LIMIT,
            "metrics_listen": "127.0.0.1:0",  # two processes: not both on 9464
            **web,
        },
    }
    path = folder / "pressroom.toml"
    path.write_text(toml_text(tables), "utf-8")
    return path


@pytest.fixture
def serve_two() -> Iterator[object]:
    """Start two ``pressroom serve`` processes on one config; yield their base URLs."""
    started: list[subprocess.Popen[str]] = []

    def start(config: Path) -> list[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
        urls = []
        for _ in range(2):
            cmd = [
                sys.executable,
                "-m",
                "pressroom",
                "--config",
                str(config),
                "serve",
                "--port",
                "0",
            ]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
            started.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("pressroom: serving http://127.0.0.1:"), line
            urls.append(line.split()[2])
        return urls

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            assert proc.stdout is not None
            proc.stdout.close()


def subscribe_alternately(urls: list[str], count: int) -> list[httpx.Response]:
    answers = []
    with httpx.Client(timeout=10) as client:
        for n in range(count):
            url = urls[n % len(urls)]
            answers.append(client.post(f"{url}subscribe", data={"email": f"p{n}@example.com"}))
    return answers


def assert_one_limit_for_both(answers: list[httpx.Response]) -> None:
    codes = [answer.status_code for answer in answers]
    assert codes.count(200) == LIMIT, codes  # per-process counting would allow 2 x LIMIT
    assert codes.count(429) == len(codes) - LIMIT, codes
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) >= 1
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_serve_processes_on_one_postgresql_store_share_the_limit(
    tmp_path: Path, pg_url: str, serve_two: object
) -> None:
    config = write_site(tmp_path / "site", pg_url)
    urls = serve_two(config)  # type: ignore[operator]
    assert_one_limit_for_both(subscribe_alternately(urls, 3 * LIMIT))
    store = open_store(pg_url, migrate=False)
    try:
        with store.read() as conn:
            assert conn.execute(select(func.sum(rate_limits.c.hits))).scalar() == 3 * LIMIT
    finally:
        store.dispose()


@pytest.mark.slow
def test_two_serve_processes_share_the_limit_in_redis(tmp_path: Path, serve_two: object) -> None:
    redis_or_skip()
    import redis

    public_url = f"http://127.0.0.1:{free_port()}/"
    config = write_site(tmp_path / "site", "sqlite:///store.db", redis_url=REDIS_URL,
                        public_url=public_url)  # fmt: skip
    urls = serve_two(config)  # type: ignore[operator]
    assert_one_limit_for_both(subscribe_alternately(urls, 3 * LIMIT))
    store = open_store(f"sqlite:///{tmp_path / 'site' / 'store.db'}", migrate=False)
    try:
        with store.read() as conn:  # the counters went to Redis, not to the store
            assert conn.execute(select(func.count()).select_from(rate_limits)).scalar() == 0
    finally:
        store.dispose()
    client = redis.Redis.from_url(REDIS_URL)
    import hashlib

    namespace = "pressroom:rl:" + hashlib.sha256(public_url.encode()).hexdigest()[:12]
    keys = client.keys(f"{namespace}:*")
    assert keys
    client.delete(*keys)
    client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("hosts", "shared"),
    [
        (["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"], True),  # one /64
        (["2001:db8:1:2::1", "2001:db8:1:3::1"], False),  # two networks
        (["198.51.100.1", "::ffff:198.51.100.1"], True),  # one IPv4 client, two spellings
        (["198.51.100.1", "198.51.100.2"], False),
    ],
)
def test_ipv6_clients_are_limited_per_64(hosts: list[str], shared: bool) -> None:
    from starlette.requests import Request

    from pressroom.web.security import client_key

    keys = {client_key(Request({"type": "http", "client": (host, 1)})) for host in hosts}
    assert (len(keys) == 1) is shared
