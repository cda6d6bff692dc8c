"""Keeping a job single across processes: a lease row with an expiry, and the heartbeat.

A lease is a row in ``leases`` (name, holder, expires_at). The holder renews it every
third of its time to live while the work runs and deletes it when done; a holder that
dies stops renewing, so its lease expires and another worker can take over. A holder on the
same host whose process is gone (``kill -9``) is taken over at once, without waiting for
the expiry (:func:`~pressroom.process_id.process_gone`). This works
the same on SQLite and PostgreSQL (see :mod:`pressroom.store.runs` for why the statements
are atomic), without keeping a connection open for the whole job as an advisory lock would.

Expiries and heartbeats are the store's clock: a worker whose own clock is off can
neither take a lease that is still held nor make a live worker look dead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from datetime import timedelta
from pathlib import Path
from types import TracebackType

from pressroom.clock import Clock
from pressroom.process_id import process_gone
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.worker import recording

__all__ = [
    "BOUNCES_LEASE",
    "FEEDS_LEASE",
    "HEARTBEAT_EVERY",
    "LEASE_TTL",
    "SOURCE_LEASE_PREFIX",
    "WORKER_ALIVE_FOR",
    "Heartbeat",
    "Lease",
    "abandon_silent_runs",
    "feeds_lease_name",
]

log = logging.getLogger("pressroom.worker")

FEEDS_LEASE = "feeds"
BOUNCES_LEASE = "bounces"
SOURCE_LEASE_PREFIX = "source:"
"""A source's sync holds the lease ``source:<name>``: one process syncs a source at a time."""
LEASE_TTL = timedelta(minutes=2)
HEARTBEAT_EVERY = runs.HEARTBEAT_EVERY
WORKER_ALIVE_FOR = runs.SILENT_AFTER
"""A worker (or a run) whose heartbeat is older than this, by the store's clock, is dead
(``status``, ``/metrics``); its running runs are ``abandoned``."""


def feeds_lease_name(lease: str, output_dir: Path) -> str:
    """The lease a feeds build holds: :data:`FEEDS_LEASE` (one builder for every worker of
    the store, ``[feeds] lease = "store"``) or, with ``"local"``, one per machine and
    output folder (each machine builds its own copy; builders of one folder still take
    turns)."""
    if lease != "local":
        return FEEDS_LEASE
    where = f"{socket.gethostname()}:{output_dir.resolve()}"
    return f"{FEEDS_LEASE}:{hashlib.sha256(where.encode()).hexdigest()[:16]}"


class Lease:
    """``async with Lease(...) as lease:`` then ``lease.held`` says whether we got it.

    While held, a task renews it every ``ttl / 3``; on exit it is released.
    """

    def __init__(
        self, store: Store, name: str, holder: str, clock: Clock, ttl: timedelta = LEASE_TTL
    ) -> None:
        self.store, self.name, self.holder, self.clock, self.ttl = store, name, holder, clock, ttl
        self.held = False
        self.other: str | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lease:
        self.held = await asyncio.to_thread(self._acquire)
        if self.held:
            self._renewer = asyncio.create_task(self._renew_forever())
        else:
            # Never None: the holder may have let go between the two statements.
            self.other = await asyncio.to_thread(self._holder) or "a process that just finished"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        if self.held:
            await asyncio.to_thread(self._release)
            self.held = False

    def _acquire(self) -> bool:
        with self.store.write() as conn:
            if runs.acquire_lease(conn, self.name, self.holder, ttl=self.ttl):
                return True
            # A holder on this host whose process is gone will never give it back: take
            # it now rather than when it expires (a SIGKILLed command, up to LEASE_TTL).
            other = runs.lease_holder(conn, self.name)
            if other is None or not process_gone(other):
                return False
            taken = runs.take_lease(conn, self.name, self.holder, dead=other, ttl=self.ttl)
        if taken:
            log.warning("took the %s lease back from %s, whose process is gone", self.name, other)
        return taken

    def _holder(self) -> str | None:
        with self.store.read() as conn:
            return runs.lease_holder(conn, self.name)

    def _release(self) -> None:
        with self.store.write() as conn:
            runs.release_lease(conn, self.name, self.holder)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            try:
                renewed = await asyncio.to_thread(self._acquire)
            except Exception as exc:  # a store hiccup: try again at the next beat
                log.warning("could not renew the %s lease: %s", self.name, exc)
                continue
            if not renewed:
                log.error("lost the %s lease to another worker", self.name)
                return


class Heartbeat:
    """Writes this worker's row in ``workers`` (and the heartbeat of its runs in progress)
    every :data:`HEARTBEAT_EVERY`; closes the runs of workers that died.

    Each beat first writes the ends of runs the store refused before (``open_runs``); a
    beat the store refuses is tried again after :data:`~recording.RETRY_BEAT_AFTER`.
    """

    def __init__(
        self,
        store: Store,
        worker_id: str,
        clock: Clock,
        open_runs: recording.OpenRuns | None = None,
    ) -> None:
        self.store, self.worker_id, self.clock = store, worker_id, clock
        self.open_runs = open_runs or recording.OpenRuns()
        self.started_at = clock()
        self._task: asyncio.Task[None] | None = None

    def beat(self) -> None:
        """Write the ends still unwritten, then the heartbeat (and forget workers silent
        for a day)."""
        self.open_runs.write_ends(self.store)
        with self.store.write() as conn:
            runs.touch_worker(
                conn,
                self.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
            )
            recording.beat_runs(conn, self.worker_id, self.open_runs)
            runs.prune_workers(conn, silent_for=timedelta(days=1))
        abandon_silent_runs(self.store)

    async def start(self) -> None:
        """Beat now, then keep beating in the background; close runs of dead workers."""
        await asyncio.to_thread(self.beat)
        self._task = asyncio.create_task(self._beat_forever())

    async def stop(self) -> None:
        """Stop beating, write the refused runs still waiting (if the store answers in
        time), and remove this worker's row (it is no longer alive)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.open_runs.write_before_exit, self.store)
        await asyncio.to_thread(self._remove)

    def _remove(self) -> None:
        with self.store.write() as conn:
            runs.remove_worker(conn, self.worker_id)

    async def _beat_forever(self) -> None:
        wait = HEARTBEAT_EVERY.total_seconds()
        while True:
            await asyncio.sleep(wait)
            try:
                await asyncio.to_thread(self.beat)
            except Exception as exc:  # a store hiccup must not stop the worker: again soon
                log.warning("could not write the heartbeat: %s", exc)
                wait = recording.RETRY_BEAT_AFTER
            else:
                wait = HEARTBEAT_EVERY.total_seconds()


def abandon_silent_runs(store: Store) -> int:
    """Mark running runs silent for :data:`WORKER_ALIVE_FOR` as ``abandoned``; how many."""
    return recording.abandon_silent_runs(store, WORKER_ALIVE_FOR)
