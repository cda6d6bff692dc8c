"""Delivering a ledger run: claim, send, record, resume.

:func:`deliver` runs one task per transport connection over a shared queue of claimed
rows (``sending``, held by this sender; see :mod:`pressroom.store.deliveries`). A row is
marked ``sent`` only after the server's final 250.

Marks are group-committed: one transaction carries what every connection finished in
the last few milliseconds. A connection hands over its next message only once the mark
of its previous one is committed, so at any moment each connection has at most one
message the server accepted that the store does not know about. If the process dies,
the next sender puts the dead one's ``sending`` rows back in the queue: at most one per
connection can then reach a person twice, and nobody is skipped.

Nothing here waits without a bound. A store error (a lock held past the busy timeout, a
lost connection, a full disk) breaks the ledger thread: every waiter hears it at once,
the tasks end, the rows still held go back to the queue if the store lets us within a
short margin (else they stay ``sending``, truthfully, for the next sender to recover),
and :func:`deliver` raises one :class:`~pressroom.errors.StoreError`. After a stop
request, the messages in flight get ``stop_window`` seconds, then the tasks are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from pressroom.clock import Clock
from pressroom.delivery.group_commit import MARGIN_S, DbThread, GroupCommitter, store_failure
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.transport import (
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    Transport,
    UncertainDelivery,
)
from pressroom.errors import DeliveryError, StoreError
from pressroom.models import DeliveryStatus, Subscriber, SubscriberStatus
from pressroom.progress import Progress, progress
from pressroom.store import deliveries as ledger
from pressroom.store.deliveries import Outcome
from pressroom.store.engine import Store

__all__ = ["DEFAULT_LEASE", "DEFAULT_STOP_WINDOW", "DeliveryReport", "deliver"]

log = logging.getLogger("pressroom.delivery.send")

DEFAULT_LEASE = timedelta(minutes=5)
"""A sender that has not renewed its claims for this long is presumed dead."""

DEFAULT_STOP_WINDOW = 25.0
"""Seconds the messages in flight get after a stop request before their tasks are cancelled;
the wind-down after it takes at most :data:`~pressroom.delivery.group_commit.MARGIN_S` more."""

_SENDING_HERE: set[str] = set()
"""Sender ids of the :func:`deliver` calls running in this process (see :func:`_is_dead_here`)."""

_T = TypeVar("_T")
_Item = tuple[int, Subscriber | None]


@dataclass
class DeliveryReport:
    """What one :func:`deliver` call did (rows this sender finished)."""

    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def count(self, status: DeliveryStatus) -> None:
        """Add one finished delivery with ``status``; unfinished statuses add nothing."""
        match status:
            case DeliveryStatus.SENT:
                self.sent += 1
            case DeliveryStatus.FAILED:
                self.failed += 1
            case DeliveryStatus.UNCERTAIN:
                self.uncertain += 1
            case DeliveryStatus.SKIPPED:
                self.skipped += 1


def _is_dead_here(worker_id: str) -> bool:
    """True when ``worker_id`` names a sender on this host that no longer runs.

    Either its process is gone, or it is this process and no :func:`deliver` call of
    that id is running any more (a worker whose earlier send failed on the store).
    """
    parts = worker_id.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return worker_id not in _SENDING_HERE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class _Run:
    """The shared state of one :func:`deliver` call."""

    store: Store
    digest_id: int
    compose: Callable[[Subscriber], OutgoingMessage]
    transport: Transport
    worker_id: str
    lease: timedelta
    batch_size: int
    stop: asyncio.Event | None  # the caller's: set means "finish in flight, then return"
    ledger: GroupCommitter
    report: DeliveryReport
    bar: Progress | None = None
    halted: TemporaryFailure | None = None  # why this run stopped itself (an outage)
    broken: StoreError | None = None  # the store failed: end now, report it
    cut: bool = False  # the stop window ran out: the tasks were cancelled
    idempotent: bool = False  # resending is harmless (the file outbox): no need to wait
    deferred: set[int] = field(default_factory=set)  # rows put back once after a 4xx
    failing: int = 0  # temporary failures in a row, with no success between them
    breaker: int = 8  # that many in a row: the relay refuses everything, stop the run

    @property
    def stopping(self) -> bool:
        """True once the caller asked to stop or the run halted itself."""
        return (
            self.halted is not None
            or self.broken is not None
            or (self.stop is not None and self.stop.is_set())
        )

    async def db(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return await self.ledger.db.run(fn, *args)
        except StoreError as exc:
            self.broken = self.broken or exc
            raise

    def finish(
        self,
        item: _Item,
        status: DeliveryStatus,
        error: str | None = None,
        *,
        bounce: bool = False,
        message_id: str | None = None,
    ) -> asyncio.Future[None] | None:
        """Record what happened to ``item``; return the future of its commit.

        None when the store already failed: the row stays as the store has it.
        """
        if self.broken is not None:
            return None
        delivery_id, subscriber = item
        sid = subscriber.id if subscriber else 0
        committed = self.ledger.submit(Outcome(delivery_id, sid, status, error, message_id, bounce))
        if status is not DeliveryStatus.QUEUED:
            self.report.count(status)
            if self.bar is not None:
                self.bar.advance(1)
        return committed

    async def recover(self, *, mine: bool) -> int:
        """Release rows of dead senders (and, at start, rows an earlier run of ours left)."""
        held = await self.db(ledger.claimers, self.digest_id, self.lease)
        dead = [c.worker_id for c in held if _is_dead_here(c.worker_id)]
        if mine:
            dead.append(self.worker_id)
        others = [c for c in held if c.worker_id != self.worker_id]
        if not dead and not any(c.expired for c in others):
            return 0
        return await self.db(
            partial(ledger.recover, keep=self.worker_id), self.digest_id, dead, self.lease
        )

    async def feed(self, queue: asyncio.Queue[_Item | None], workers: int) -> None:
        try:
            while not self.stopping:
                batch = await self.db(ledger.claim, self.digest_id, self.worker_id, self.batch_size)
                if not batch:
                    # Rows put back after a 4xx come back once they are on record.
                    await queue.join()
                    await self.ledger.settled()
                    if self.stopping:
                        break
                    batch = await self.db(
                        ledger.claim, self.digest_id, self.worker_id, self.batch_size
                    )
                if not batch and not await self.recover(mine=False):
                    break
                for item in batch:
                    await queue.put(item)
        except StoreError as exc:  # the tasks end; deliver() reports it
            self.broken = self.broken or exc
        # One end mark per connection, waiting for room while they drain the queue. Not in
        # a `finally`: when this task is cancelled the workers are too, and a put into a
        # full queue nobody reads would wait forever (it once hung a cancelled send).
        for _ in range(workers):
            await queue.put(None)

    async def work(self, queue: asyncio.Queue[_Item | None]) -> None:
        committed: asyncio.Future[None] | None = None
        while (item := await queue.get()) is not None:
            try:
                if self.stopping:
                    self.finish(item, DeliveryStatus.QUEUED, None)
                else:
                    committed = await self.one(item, committed) or committed
            except StoreError as exc:  # this connection's last mark failed
                self.broken = self.broken or exc
            finally:
                queue.task_done()
            if self.idempotent:
                await asyncio.sleep(0)  # a transport that never waits lets the writer run

    async def one(
        self, item: _Item, previous: asyncio.Future[None] | None
    ) -> asyncio.Future[None] | None:
        """Send one claimed row; return the future of its committed mark."""
        _, subscriber = item
        if subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE:
            why = "gone" if subscriber is None else subscriber.status.value
            return self.finish(item, DeliveryStatus.SKIPPED, f"skipped: the subscriber is {why}")
        try:
            msg = self.compose(subscriber)
        except Exception as exc:  # one bad subscriber must not stop the run
            log.warning("cannot compose the message for %s: %s", subscriber.email, exc)
            return self.finish(item, DeliveryStatus.FAILED, f"compose: {exc}")
        if previous is not None and not self.idempotent:
            await previous  # this connection's last message is on record first
        if self.stopping:  # the store failed or a stop came while we waited
            return self.finish(item, DeliveryStatus.QUEUED, None)
        status, error, bounce = await self.hand_over(item[0], msg)
        return self.finish(item, status, error, bounce=bounce, message_id=msg.message_id)

    async def hand_over(
        self, delivery_id: int, msg: OutgoingMessage
    ) -> tuple[DeliveryStatus, str | None, bool]:
        """Send ``msg``; return (status, error, bounce) for its ledger row."""
        try:
            await self.transport.send(msg)
        except ServerUnavailable as exc:
            self.halted = self.halted or exc
            return DeliveryStatus.QUEUED, str(exc), False
        except PermanentFailure as exc:
            return DeliveryStatus.FAILED, str(exc), exc.bounce
        except UncertainDelivery as exc:
            return DeliveryStatus.UNCERTAIN, str(exc), False
        except TemporaryFailure as exc:
            return self.temporary(delivery_id, exc), str(exc), False
        except DeliveryError as exc:
            return DeliveryStatus.FAILED, str(exc), False
        except Exception as exc:  # the transport broke mid-message: it may have gone out
            log.exception("unexpected error sending to %s", msg.recipient)
            return DeliveryStatus.UNCERTAIN, f"unexpected error: {exc!r}", False
        self.failing = 0
        return DeliveryStatus.SENT, None, False

    def temporary(self, delivery_id: int, exc: TemporaryFailure) -> DeliveryStatus:
        """The status after a temporary failure that outlasted the transport's retries.

        The row goes back to the queue once (a later claim tries again); the second time
        it is ``failed``. When :attr:`breaker` messages in a row fail so, the relay is
        refusing everything: the run halts with the rest still queued, rather than
        marking everybody failed (which would complete the run and lose its messages).
        """
        self.failing += 1
        if self.failing >= self.breaker and self.halted is None:
            self.halted = TemporaryFailure(
                f"{self.failing} messages in a row were refused for now, last: {exc}"
            )
        if delivery_id in self.deferred and self.halted is None:
            return DeliveryStatus.FAILED
        self.deferred.add(delivery_id)
        return DeliveryStatus.QUEUED


async def deliver(
    store: Store,
    digest_id: int,
    compose: Callable[[Subscriber], OutgoingMessage],
    transport: Transport,
    *,
    on_bounce: ledger.OnBounce,
    clock: Clock,
    worker_id: str,
    show_progress: bool = True,
    stop: asyncio.Event | None = None,
    batch_size: int = 200,
    lease: timedelta = DEFAULT_LEASE,
    stop_window: float = DEFAULT_STOP_WINDOW,
) -> DeliveryReport:
    """Send every queued delivery of the ledger run ``digest_id``; safe to run again, or
    in parallel.

    Args:
        store: the store holding the ``deliveries`` rows (queued by the caller).
        digest_id: the run whose rows to send (opaque here: the ledger's run id).
        compose: builds one subscriber's message (called once per delivery attempt).
        transport: an *entered* transport; ``transport.concurrency`` tasks share it (1
            when it has no such attribute); ``transport.idempotent`` (resending replaces,
            as in the file outbox) lets messages go out without waiting for the ledger.
        on_bounce: what a 5xx about the recipient does to the subscriber, in the ledger's
            transaction: the subscribers' rule
            (:func:`pressroom.subscribers.lifecycle.send_bounce_rule`), which delivery,
            below the subscribers in the layers, cannot import.
        clock: unused by the ledger (claims and ``sent_at`` take the store's time); kept
            for the callers' symmetry.
        worker_id: this sender's id, unique per process (:func:`~pressroom.process_id.process_id`).
        show_progress: a progress bar on a terminal, log lines elsewhere.
        stop: when set, in-flight messages finish, nothing more is claimed, and the
            rows claimed but not started go back to the queue.
        batch_size: rows claimed per transaction.
        lease: how long a silent sender keeps its claims before others take them.
        stop_window: seconds the messages in flight get once ``stop`` is set; then the
            tasks are cancelled and their rows given back.

    Raises:
        ServerUnavailable: the SMTP server could not be reached; the rows not sent stay
            queued and a later call resumes them.
        TemporaryFailure: the server refused message after message for now (4xx); the
            rows not sent stay queued, as above.
        StoreError: the store failed (locked past its busy timeout, connection lost, disk
            full); raised within the busy timeout plus a few seconds, the rows this
            sender held given back if the store allowed it (else the next sender does).
    """
    del clock  # the store's clock stamps claims and marks
    started = time.monotonic()
    workers = max(1, int(getattr(transport, "concurrency", 1)))
    db = DbThread(store)
    writer = GroupCommitter(db, digest_id, worker_id, on_bounce, lease)
    run = _Run(store, digest_id, compose, transport, worker_id, lease,
               max(batch_size, workers), stop, writer,
               DeliveryReport())  # fmt: skip
    run.idempotent = bool(getattr(transport, "idempotent", False))
    run.breaker = max(run.breaker, 2 * workers)
    _SENDING_HERE.add(worker_id)
    left = 0
    try:
        await _deliver_all(run, workers, show_progress, stop_window)
        if run.halted is not None and run.broken is None:
            left = await _bounded(run, ledger.unfinished, digest_id)
    except StoreError as exc:
        run.broken = run.broken or exc
    finally:
        _SENDING_HERE.discard(worker_id)
        db.close()
    run.report.seconds = time.monotonic() - started
    if run.broken is not None:
        raise run.broken
    if run.halted is not None:
        kind = type(run.halted)
        raise kind(f"{run.halted}; {left} deliveries stay queued for a resume")
    return run.report


async def _deliver_all(run: _Run, workers: int, show_progress: bool, stop_window: float) -> None:
    await run.recover(mine=True)
    total = await run.db(ledger.unfinished, run.digest_id)
    run.ledger.start()
    try:
        with progress("delivering", total=total, unit="mails", enabled=show_progress) as bar:
            run.bar = bar
            await _run_tasks(run, workers, stop_window)
    finally:
        await _wind_down(run)


async def _run_tasks(run: _Run, workers: int, stop_window: float) -> None:
    queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=run.batch_size)
    tasks = [asyncio.create_task(run.work(queue)) for _ in range(workers)]
    tasks.append(asyncio.create_task(run.feed(queue, workers)))
    everything = asyncio.gather(*tasks)
    watchdog = asyncio.create_task(_cut_after_stop(run, everything, stop_window))
    try:
        await everything
    except asyncio.CancelledError:
        if not run.cut:  # our caller cancelled us, not the stop window
            raise
    finally:
        watchdog.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, watchdog, return_exceptions=True)


async def _cut_after_stop(run: _Run, tasks: asyncio.Future[Any], window: float) -> None:
    """Once a stop is requested, give the messages in flight ``window`` seconds, then cut."""
    if run.stop is None:
        return
    await run.stop.wait()
    done, _ = await asyncio.wait({tasks}, timeout=window)
    if not done:
        log.warning("messages still in flight %.0f s after the stop: cutting them short", window)
        run.cut = True
        tasks.cancel()


async def _bounded(run: _Run, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(conn, *args)`` in a fresh write transaction, in a daemon thread, waited on for
    at most :data:`~pressroom.delivery.group_commit.MARGIN_S` seconds."""

    def work() -> _T:
        with run.store.write() as conn:
            return fn(conn, *args)

    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def target() -> None:
        try:
            value = work()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, value, None)

    threading.Thread(target=target, name="pressroom-ledger-release", daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), MARGIN_S)
    except TimeoutError:
        raise StoreError(f"the store did not answer within {MARGIN_S:.0f} seconds") from None
    except Exception as exc:
        raise store_failure(exc) from exc


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


async def _wind_down(run: _Run) -> None:
    """Commit what is pending, then give back any row still held (claimed or sending).

    On a store failure or a cancellation the give-back runs on a fresh connection and
    is waited on for a few seconds at most; rows it cannot give back stay ``sending``
    under this sender's id, which the next sender recovers (see :func:`_is_dead_here`).
    """
    try:
        if run.broken is None:
            await asyncio.shield(run.ledger.close())
        else:
            run.ledger.cancel()
    except asyncio.CancelledError:
        run.ledger.cancel()
        await _give_back(run)
        raise
    if run.ledger.failure is not None:
        run.broken = run.broken or run.ledger.failure
    await _give_back(run)


async def _give_back(run: _Run) -> None:
    reason = "requeued: the sender stopped"
    try:
        if run.broken is None:
            await run.db(ledger.release, run.digest_id, run.worker_id, reason)
        else:
            await _bounded(run, ledger.release, run.digest_id, run.worker_id, reason)
    except StoreError as exc:
        run.broken = run.broken or exc
        log.error(
            "could not give back the deliveries held by %s (%s); the next sender recovers them",
            run.worker_id,
            exc,
        )
