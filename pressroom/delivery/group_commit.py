"""Group commits of a sender's ledger marks, from one thread with one connection.

:class:`GroupCommitter` gathers the outcomes every connection of a sender submits and
writes them in one transaction every few milliseconds (or as soon as the last commit is
done); each submitter gets a future that resolves once its mark is on record.
:class:`DbThread` runs that work, and the sender's claims, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection

from pressroom.clock import Clock
from pressroom.store import deliveries as ledger
from pressroom.store.deliveries import Outcome
from pressroom.store.engine import Store

__all__ = ["DbThread", "GroupCommitter"]

_T = TypeVar("_T")


class DbThread:
    """One thread holding one connection for all of a sender's ledger work.

    Claims and group commits run there, off the event loop, so sending goes on while
    the store works; reusing one connection halves a commit's cost (measured: 0.33 ms
    against 0.59 ms through the pool for six rows on SQLite).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pressroom-ledger")
        self._conn: Connection | None = None

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(conn, *args)`` in one write transaction (call it in the thread)."""
        if self._conn is None:
            # The same option Store.write() sets: BEGIN IMMEDIATE on SQLite.
            self._conn = self.store.engine.connect().execution_options(sqlite_immediate=True)
        with self._conn.begin():
            return fn(self._conn, *args)

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(conn, *args)`` in the thread, in one write transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(self.call, fn, *args))

    def close(self) -> None:
        """Close the connection (in its thread) and stop the thread."""
        if self._conn is not None:
            self._pool.submit(self._conn.close).result()
            self._conn = None
        self._pool.shutdown(wait=True)


class GroupCommitter:
    """Group-commits outcomes: callers submit, one writer task commits what is pending.

    Args:
        db: the thread that runs the commits.
        digest_id: the run whose rows this sender holds.
        worker_id: the sender; its claims are renewed every quarter of ``lease``.
        clock: stamps ``sent_at`` and the renewed claims.
        bounce_after: ``[mail] bounce_after``, for outcomes that count a bounce.
        lease: see :data:`pressroom.delivery.send.DEFAULT_LEASE`.
    """

    linger = 0.002
    """Seconds the writer waits after the first pending mark, to gather more."""

    def __init__(self, db: DbThread, digest_id: int, worker_id: str, clock: Clock,
                 bounce_after: int, lease: timedelta) -> None:  # fmt: skip
        self.db, self.digest_id, self.worker_id = db, digest_id, worker_id
        self.clock, self.bounce_after = clock, bounce_after
        self.refresh_every = max(lease.total_seconds() / 4, 0.05)
        self._pending: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Start the writer task (inside the running event loop)."""
        self._task = asyncio.create_task(self._run())

    def submit(self, outcome: Outcome) -> asyncio.Future[None]:
        """Queue ``outcome`` for the next commit; the future resolves once it is written."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last = future
        self._pending.append((outcome, future))
        self._wake.set()
        return future

    async def settled(self) -> None:
        """Wait until every outcome submitted so far is committed (commits keep order)."""
        if self._last is not None:
            await self._last

    async def close(self) -> None:
        """Commit everything pending and stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def flush_now(self, store: Store) -> None:
        """Stop the writer and commit what is pending, synchronously (when cancelled)."""
        if self._task is not None:
            self._task.cancel()
        batch, self._pending = self._pending, []
        if batch:
            with store.write() as conn:
                self._write(conn, [o for o, _ in batch], False)

    async def _run(self) -> None:
        last_refresh = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_every)
            self._wake.clear()
            if self._pending and not self._closing:
                await asyncio.sleep(self.linger)
            batch, self._pending = self._pending, []
            refresh = time.monotonic() - last_refresh >= self.refresh_every
            if batch or refresh:
                await self._commit_batch(batch, refresh)
                last_refresh = time.monotonic() if refresh else last_refresh
            if self._closing and not self._pending:
                return

    async def _commit_batch(
        self, batch: list[tuple[Outcome, asyncio.Future[None]]], refresh: bool
    ) -> None:
        try:
            # In a thread: the loop goes on sending while SQLite or PostgreSQL commits,
            # and the marks that arrive meanwhile make the next group bigger.
            await self.db.run(self._write, [o for o, _ in batch], refresh)
        except Exception as exc:  # every waiter must hear about it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not batch:
                raise
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def _write(self, conn: Connection, outcomes: list[Outcome], refresh: bool) -> None:
        now = self.clock()
        if outcomes:
            ledger.apply_outcomes(conn, outcomes, now, bounce_after=self.bounce_after)
        if refresh:
            ledger.refresh_claims(conn, self.digest_id, self.worker_id, now)
