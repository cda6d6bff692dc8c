"""The ledger writer under a store that fails: every waiter hears it, nobody waits forever."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from deliverykit import add_digest, add_subscribers

from pressroom.delivery.group_commit import MARGIN_S, DbThread, GroupCommitter
from pressroom.errors import StoreError
from pressroom.models import DeliveryStatus
from pressroom.store import deliveries as ledger
from pressroom.store.deliveries import Outcome
from pressroom.store.engine import Store, open_store

pytestmark = pytest.mark.anyio


def small_store(tmp_path: Path) -> tuple[Store, int, list[tuple[int, int]]]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", busy_timeout=0.5)
    digest = add_digest(store)
    people = add_subscribers(store, 4)
    with store.write() as conn:
        ledger.enqueue(conn, digest, people)
        claimed = ledger.claim(conn, digest, "me", 4)
    return store, digest, [(d, s.id) for d, s in claimed if s is not None]


def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_failed_claim_refresh_fails_every_later_mark_at_once(tmp_path: Path) -> None:
    store, digest, rows = small_store(tmp_path)
    db = DbThread(store)
    writer = GroupCommitter(db, digest, "me", 1, timedelta(seconds=0.2))  # refresh every 0.05 s
    writer.start()
    lock = hold_write_lock(tmp_path / "store.db")
    try:
        started = time.monotonic()
        while writer.failure is None:  # the refresh alone (no mark pending) meets the lock
            assert time.monotonic() - started < 0.5 + MARGIN_S
            await asyncio.sleep(0.05)
        assert "locked" in str(writer.failure)
        future = writer.submit(Outcome(rows[0][0], rows[0][1], DeliveryStatus.SENT))
        with pytest.raises(StoreError, match="locked"):
            await asyncio.wait_for(future, 1)  # at once: the writer is gone, it says so
        with pytest.raises(StoreError):
            await writer.settled()
        with pytest.raises(StoreError):  # the thread is broken too: no second wait
            await asyncio.wait_for(db.run(ledger.unfinished, digest), 1)
        await asyncio.wait_for(writer.close(), 1)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        db.close()
        store.dispose()


async def test_marks_waiting_on_a_locked_commit_fail_within_the_bound(tmp_path: Path) -> None:
    store, digest, rows = small_store(tmp_path)
    db = DbThread(store)
    writer = GroupCommitter(db, digest, "me", 1, timedelta(minutes=5))
    writer.start()
    lock = hold_write_lock(tmp_path / "store.db")
    try:
        futures = [writer.submit(Outcome(d, s, DeliveryStatus.SENT)) for d, s in rows]
        started = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(*futures, return_exceptions=True), 0.5 + MARGIN_S
        )
        assert all(isinstance(r, StoreError) for r in results)
        assert time.monotonic() - started < 0.5 + MARGIN_S
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        await writer.close()
        db.close()
    with store.read() as conn:  # nothing was written: the rows are still ours, sending
        assert ledger.counts(conn, digest)[DeliveryStatus.SENDING] == 4
    store.dispose()
