"""Rate limits: subscriptions per client and per address, token requests per client.

Two layers behind one method, ``hit(key) -> seconds to wait`` (0.0 when allowed):

- :class:`RateLimiter`: a per-process token bucket. Memory is bounded: past ``max_keys``
  the least recently seen keys are forgotten (a flood from many addresses then costs the
  flooder its own buckets, never unbounded memory).
- :class:`SharedRateLimiter`: a sliding-window counter that every web process on every
  machine shares, kept in the store (``rate_limits``, :mod:`pressroom.store.rate_limits`)
  or in Redis when ``[web] redis_url`` is set. Its local token bucket answers first, so a
  flood from one client costs the shared counter nothing once that process alone has seen
  too much. If the counter cannot be reached, each process limits alone (logged).

The window estimate is Cloudflare's: ``previous window's hits x the part of it still
inside the sliding window + this window's hits``; refused hits count too (a client that
keeps hammering stays limited).

Handlers call ``await limiter.check(key)``, never ``hit`` on the event loop: the shared
counter runs in a small pool of its own threads with a deadline
(:data:`COUNTER_DEADLINE_S`). If Redis hangs or SQLite's write lock is held, the request
stops waiting at the deadline and is limited by this process alone (as when the counter is
down), and the event loop, which serves the feed files, never waits on a counter.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from pressroom.store import rate_limits
from pressroom.store.engine import Store

__all__ = [
    "COUNTER_DEADLINE_S",
    "Counter",
    "Limiter",
    "RateLimiter",
    "RedisCounter",
    "SharedRateLimiter",
    "StoreCounter",
    "make_counter",
]

log = logging.getLogger("pressroom.web")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allow ``burst`` events per key at once, refilled at ``per_minute`` events a minute."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        max_keys: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, round(per_minute)))
        self.max_keys = max_keys
        self._now = monotonic
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Take one event for ``key``: 0.0 when allowed, else the seconds until it would be."""
        now = self._now()
        with self._lock:
            bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    async def check(self, key: str) -> float:
        """:meth:`hit` for a handler (memory only: it never waits)."""
        return self.hit(key)

    def __len__(self) -> int:
        return len(self._buckets)


class Limiter(Protocol):
    """What the handlers call: one event for ``key``; 0.0 when allowed, else seconds."""

    async def check(self, key: str) -> float: ...


class Counter(Protocol):
    """A shared counter of events per (bucket, slot)."""

    def hit(self, bucket: str, slot: int, expires_at: int) -> tuple[int, int]:
        """Count one event; return the hits of ``slot`` and of ``slot - 1``."""
        ...


STORE_WAIT_S = 0.5
"""How long a hit waits for SQLite's write lock before the process limits alone."""
PRUNE_EVERY_S = 60.0


class StoreCounter:
    """Counters in the store's ``rate_limits`` table; expired rows pruned once a minute."""

    def __init__(self, store: Store, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._monotonic = monotonic
        self._next_prune = 0.0

    def hit(self, bucket: str, slot: int, expires_at: int) -> tuple[int, int]:
        """One upsert-increment and one primary-key read in a short write transaction
        (on SQLite waiting at most :data:`STORE_WAIT_S` for the lock)."""
        prune_now = self._monotonic() >= self._next_prune
        if prune_now:
            self._next_prune = self._monotonic() + PRUNE_EVERY_S
        with self.store.write(busy_timeout=STORE_WAIT_S) as conn:
            rate_limits.relax_durability(conn)
            counts = rate_limits.hit(conn, bucket, slot, expires_at)
            if prune_now:
                rate_limits.prune(conn, int(time.time()))
        return counts


class RedisCounter:
    """Counters in Redis: ``INCR`` and ``EXPIRE`` on the slot's key, ``GET`` the previous."""

    def __init__(self, url: str, namespace: str, *, timeout: float = 0.5) -> None:
        import redis  # only a site that sets [web] redis_url needs it

        self.namespace = namespace
        self.client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def hit(self, bucket: str, slot: int, expires_at: int) -> tuple[int, int]:
        """One round trip: INCR, EXPIREAT and GET in a pipeline (INCR is atomic)."""
        key = f"{self.namespace}:{bucket}:{slot}"
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expireat(key, expires_at)
        pipe.get(f"{self.namespace}:{bucket}:{slot - 1}")
        current, _expiry_set, previous = pipe.execute()
        return int(current), int(previous or 0)


def make_counter(store: Store, redis_url: str | None, namespace: str) -> Counter:
    """Redis when ``redis_url`` is set, else the store."""
    if redis_url:
        return RedisCounter(redis_url, namespace)
    return StoreCounter(store)


WARN_EVERY_S = 60.0
COUNTER_DEADLINE_S = 0.2
"""How long a request waits for the shared counter before this process limits alone."""
COUNTER_THREADS = 4
"""Threads that talk to the shared counter; when all are busy (a hung counter), requests
do not queue behind them but are limited by this process alone at once."""


class SharedRateLimiter:
    """``burst`` events per key in any window of ``burst / per_minute`` minutes, counted
    across every process that shares ``counter``; same ``hit`` as :class:`RateLimiter`."""

    def __init__(
        self,
        name: str,
        counter: Counter,
        per_minute: float,
        *,
        burst: int | None = None,
        wall: Callable[[], float] = time.time,
        local: RateLimiter | None = None,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.name = name
        self.counter = counter
        self.limit = int(burst if burst is not None else max(1, round(per_minute)))
        self.window_s = self.limit * 60.0 / per_minute
        self._wall = wall
        self.local = local or RateLimiter(per_minute, burst=self.limit)
        self._warned_at = float("-inf")
        self._lock = threading.Lock()
        self._in_flight = 0

    def bucket(self, key: str) -> str:
        """The counter's key: a hash, so the store never holds a visitor's address."""
        return hashlib.sha256(f"{self.name}|{key}".encode()).hexdigest()[:32]

    def hit(self, key: str) -> float:
        """Take one event for ``key``: 0.0 when allowed, else the seconds until it would be.

        Blocks while the shared counter answers: handlers use :meth:`check`.
        """
        wait = self.local.hit(key)
        if wait:
            return wait
        try:
            return self._shared(key)
        except Exception as exc:  # the shared counter is down: limit in this process alone
            self._warn(exc)
            return 0.0

    async def check(self, key: str) -> float:
        """:meth:`hit` off the event loop: the shared counter in its own threads, waited for
        at most :data:`COUNTER_DEADLINE_S`; past it (or with every thread busy) the request
        is limited by this process alone."""
        wait = self.local.hit(key)
        if wait:
            return wait
        with self._lock:
            if self._in_flight >= COUNTER_THREADS:
                self._warn(TimeoutError("every counter thread is waiting"))
                return 0.0
            self._in_flight += 1
        future = _counter_pool().submit(self._shared, key)
        future.add_done_callback(self._release)  # done, failed or cancelled at the deadline
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), COUNTER_DEADLINE_S)
        except TimeoutError:
            self._warn(TimeoutError(f"no answer within {COUNTER_DEADLINE_S} s"))
            return 0.0
        except Exception as exc:  # the shared counter is down: limit in this process alone
            self._warn(exc)
            return 0.0

    def _release(self, _future: object) -> None:
        with self._lock:
            self._in_flight -= 1

    def _shared(self, key: str) -> float:
        now = self._wall()
        slot = int(now // self.window_s)
        elapsed = (now - slot * self.window_s) / self.window_s
        expires_at = int((slot + 2) * self.window_s) + 1
        current, previous = self.counter.hit(self.bucket(key), slot, expires_at)
        if previous * (1.0 - elapsed) + current <= self.limit:
            return 0.0
        return max(self._retry_after(current, previous, elapsed), 0.001)

    def _retry_after(self, current: int, previous: int, elapsed: float) -> float:
        """Seconds until one more hit fits, if nobody hits in between."""
        if current + 1 <= self.limit and previous:  # the previous window slides out
            needed = 1.0 - (self.limit - current - 1) / previous
            return (needed - elapsed) * self.window_s
        # This window is full: wait for the next, until this one has slid out enough.
        needed = max(0.0, 1.0 - (self.limit - 1) / current) if current else 0.0
        return (1.0 - elapsed + needed) * self.window_s

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "rate limit %s: the shared counter failed (%s: %s); each process limits alone",
                self.name,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _counter_pool() -> ThreadPoolExecutor:
    """The threads every shared limiter of the process talks to its counter in."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(
                ThreadPoolExecutor(COUNTER_THREADS, thread_name_prefix="pressroom-rate-limit")
            )
        return _POOL[0]
