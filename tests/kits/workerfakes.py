"""Fakes and rows for the worker tests: jobs that record what they were asked and return
the real report types (with a fixed summary line), digest runs and deliveries made through
the store's own functions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storekit import add_subscriber, open_run

from pressroom.bounces.report import BounceReport
from pressroom.digest.report import DigestReport
from pressroom.feeds import FeedConfig
from pressroom.feeds.report import FeedBuildReport
from pressroom.models import DeliveryStatus
from pressroom.store.deliveries import Outcome, apply_outcomes, claim, enqueue
from pressroom.store.digests import complete_digest
from pressroom.store.engine import Store
from pressroom.subscribers.lifecycle import send_bounce_rule


@dataclass
class FakeFeedsReport(FeedBuildReport):
    """A feeds build's report whose summary is a fixed line."""

    text: str = ""

    def summary(self) -> str:
        return self.text


@dataclass
class FakeDigestReport(DigestReport):
    """A digest's report whose summary is a fixed line."""

    text: str = ""

    def summary(self) -> str:
        return self.text


@dataclass
class FakeFeeds:
    """A feeds build that takes ``delay`` seconds and records overlaps between calls."""

    delay: float = 0.0
    error: Exception | None = None
    calls: list[datetime] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, config: FeedConfig, store: Store, *, now: datetime, force: bool = False
    ) -> FakeFeedsReport:
        with self._lock:
            self.calls.append(now)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay)
            if self.error is not None:
                raise self.error
            written = ["a/rss.xml", "b/rss.xml", "c/rss.xml"]
            return FakeFeedsReport(written=written, text=f"wrote 3, kept {len(self.calls)}")
        finally:
            with self._lock:
                self.active -= 1


@dataclass
class FakeDigest:
    """A digest service; with ``until_stop`` it sends until ``stop`` is set, then finishes;
    not ``ok``: it leaves a delivery undone."""

    until_stop: bool = False
    ok: bool = True
    in_flight: float = 0.05
    calls: list[tuple[str, datetime]] = field(default_factory=list)
    saw_stop: list[bool] = field(default_factory=list)
    started: asyncio.Event | None = None

    async def __call__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        schedule: str,
        at: datetime,
        show_progress: bool = False,
        stop: asyncio.Event | None = None,
    ) -> FakeDigestReport:
        self.calls.append((schedule, at))
        if self.started is not None:
            self.started.set()
        if self.until_stop and stop is not None:
            await stop.wait()
            await asyncio.sleep(self.in_flight)  # the messages in flight finish
        self.saw_stop.append(bool(stop and stop.is_set()))
        stopped = bool(stop and stop.is_set())
        return FakeDigestReport(
            schedule, "p", sent=5, remaining=0 if self.ok else 1, stopped=stopped,
            text=f"sent 5, failed 0 ({schedule})",
        )  # fmt: skip


def no_bounces(store: Store, clock: Callable[[], datetime]) -> BounceReport:
    """The bounces job of the worker tests, which configure none."""
    raise AssertionError("these tests configure no bounces job")


DAILY_0800 = """
[[schedules]]
name = "morning"
job = "digest"
cron = "0 8 * * *"
misfire_grace = "6h"

[[schedules]]
name = "feeds"
job = "feeds"
cron = "*/10 * * * *"
"""

UTC_NOON = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def add_digest_run(
    store: Store, schedule: str, created: datetime, *, completed: bool = True, period: str = ""
) -> int:
    """A digest run of ``schedule`` created at ``created`` (its window: the day before),
    completed unless told otherwise; returns its id."""
    with store.write() as conn:
        digest = open_run(
            conn,
            schedule,
            period=period or f"daily:{created.date()}",
            window_start=created - timedelta(days=1),
            window_end=created,
            now=created,
        )
        if completed:
            complete_digest(conn, digest.id, created, "")
        return digest.id


def add_deliveries(
    store: Store, digest_id: int, statuses: Sequence[str], now: datetime, *, first: int = 0
) -> None:
    """One active subscriber (s<n>@example.com) per status, and their delivery of
    ``digest_id`` in that status (queued, or claimed and recorded as sent, failed...)."""
    with store.write() as conn:
        ids = [
            add_subscriber(conn, f"s{n}@example.com", now=now).id
            for n in range(first, first + len(statuses))
        ]
        enqueue(conn, digest_id, ids)
        claimed = claim(conn, digest_id, "kit:1:0", limit=len(ids))
        by_subscriber = dict(zip(ids, statuses, strict=True))
        outcomes = [
            Outcome(delivery, subscriber.id, DeliveryStatus(by_subscriber[subscriber.id]))
            for delivery, subscriber in claimed
            if subscriber is not None
        ]
        apply_outcomes(conn, outcomes, on_bounce=send_bounce_rule(1))
