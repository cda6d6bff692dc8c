"""The feeds watch: ``pressroom run`` rebuilds the feeds seconds after the store changed.

Every ``[feeds] watch`` interval the worker reads the store's data version
(:mod:`pressroom.store.data_version`: microseconds, no query on SQLite). When it moved, it
waits for the burst of commits to settle, asks :func:`pressroom.feeds.build.needs_build`
(one read: did any feed's newest articles change?) and only then builds, under the same
lease and rules as the scheduled build (a different lease holder, so the watch and this
worker's own scheduled build never run at once). Commits that touch no feed (heartbeats,
leases, subscribers, the build's own writes) cost one read and no build. A future-dated
article is picked up when it becomes due. A build that changed something, or failed, is a
``job_runs`` row with trigger ``watch`` (schedule ``watch``), run and recorded by the
worker's :class:`~pressroom.worker.jobs.JobRunner` like any other; WebSub hubs are told by
the build job itself (:func:`pressroom.feeds.build_feeds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from pressroom.errors import PressroomError
from pressroom.models import JobOutcome, JobTrigger
from pressroom.store.data_version import data_version
from pressroom.store.engine import Store
from pressroom.store.notify import ArticlesListener
from pressroom.worker.jobs import JobRunner
from pressroom.worker.registry import WATCH_SCHEDULE, watch_job

__all__ = ["WATCH_SCHEDULE", "FeedsWatch"]

log = logging.getLogger("pressroom.worker")

SETTLE = 0.2
"""Seconds the data version must stand still before a build (a burst gives one build)."""
MAX_SETTLE = 1.0
"""Seconds a build waits at most for the burst to settle (a steady stream of commits, or
PostgreSQL's WAL position moving with other databases' commits, never stands still)."""
STOP_WAIT = 30.0
FAILED_PAUSE = 60.0
"""Seconds the watch waits after a failed build before trying again (each failure is a
``job_runs`` row; the feeds schedule still runs meanwhile)."""


class FeedsWatch:
    """Polls the store's data version and rebuilds the feeds when they changed."""

    def __init__(self, runner: JobRunner, interval: float, *, settle: float = SETTLE) -> None:
        self.runner, self.interval, self.settle = runner, interval, settle
        self.holder = f"{runner.worker_id}/watch"
        self.builds = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listener: ArticlesListener | None = None
        self._last_problem: str | None = None
        self._paused_until = 0.0

    @classmethod
    def start(cls, runner: JobRunner) -> FeedsWatch | None:
        """Start watching (None when ``[feeds] watch`` is ``"0"``)."""
        every = runner.config.watch_every
        if every <= 0:
            return None
        watch = cls(runner, every)
        watch._task = asyncio.create_task(watch.run(), name="pressroom-feeds-watch")
        loop = asyncio.get_running_loop()

        def wake_from_thread() -> None:
            loop.call_soon_threadsafe(watch.wake)

        listener = ArticlesListener(runner.store, wake_from_thread)
        if listener.start():  # PostgreSQL: NOTIFY pressroom_articles wakes it at once
            watch.listener = listener
        log.info("feeds watch: looking for changes every %gs", every)
        return watch

    def wake(self) -> None:
        """Look now (a ``NOTIFY``), not at the next interval."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop looking; a running build finishes (up to 30 s)."""
        self._stopping.set()
        self._wake.set()
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    @property
    def store(self) -> Store:
        """The store watched."""
        return self.runner.store

    async def run(self) -> None:
        """The loop: probe, settle, check, build; until :meth:`stop`."""
        seen: int | str | None = None
        due_at: datetime | None = None
        first = True
        while not self._stopping.is_set():
            if time.monotonic() < self._paused_until:  # the last build failed
                await self._sleep(self.interval)
                continue
            try:
                version = await asyncio.to_thread(data_version, self.store)
                due = due_at is not None and self.runner.clock() >= due_at
                if first or version is None or version != seen or due or self._wake.is_set():
                    self._wake.clear()
                    seen = await self._settled(version)
                    due_at, ok = await self._check_and_build()
                    if not ok:
                        seen = None  # the store failed: look again at the next interval
                    first = False
            except Exception as exc:  # the store went away mid-way: keep watching
                self._complain(f"{type(exc).__name__}: {exc}")
                seen = None
            await self._sleep(self.interval)

    def _complain(self, problem: str) -> None:
        """Log a problem once while it lasts (the watch looks every few seconds)."""
        level = logging.DEBUG if problem == self._last_problem else logging.ERROR
        log.log(level, "feeds watch: %s; trying again every %gs", problem, self.interval)
        self._last_problem = problem

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _settled(self, version: int | str | None) -> int | str | None:
        """The data version once it stood still for :attr:`settle` (at most 1 s)."""
        waited = 0.0
        while version is not None and waited < MAX_SETTLE and not self._stopping.is_set():
            await asyncio.sleep(self.settle)
            waited += self.settle
            latest = await asyncio.to_thread(data_version, self.store)
            if latest == version:
                break
            version = latest
        return version

    async def _check_and_build(self) -> tuple[datetime | None, bool]:
        """Build when a feed is stale: (when to look again regardless, whether it worked)."""
        from pressroom.feeds.build import needs_build

        config = self.runner.config.feeds
        try:
            check = await asyncio.to_thread(
                needs_build, config, self.store, now=self.runner.clock()
            )
        except PressroomError as exc:
            self._complain(str(exc))
            return None, False
        self._last_problem = None
        if check.stale:
            await self._build()
        return check.next_visible_at, True

    async def _build(self) -> None:
        result = await self.runner.run_recorded_when_changed(
            watch_job(), JobTrigger.WATCH, self.holder
        )
        if result is None:  # another holder of the feeds lease is building them
            return
        self.builds += 1
        if result.outcome is JobOutcome.FAILED:
            self._paused_until = time.monotonic() + FAILED_PAUSE
