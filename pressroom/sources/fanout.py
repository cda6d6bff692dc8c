"""A large full pass shared out to helper processes, each reading, checking and writing
ranges of the source's IDs.

A first sync of a million WordPress posts is nearly all Python: reading rows with a
pure-Python driver, mapping, checking and hashing them, writing them to the store. One
process runs one line of Python at a time, so a sync in one process keeps one core busy
however many the machine has. A full pass over a large table is therefore shared out:
helper processes (started by a fork server: clean processes, not forks of this one and
its open connections) take ranges of the table's IDs from a common list and do, for each
batch, what a sync does here: read, map, check, hash, and write what changed, in a
transaction of their own (on SQLite they take turns at the write lock; one reads while
the other writes). Only what the sync counts and reports comes back: no row crosses
between processes. A full pass has no order to keep: each URL is written once.

A helper that fails hands its error back (the sync stops with that sentence, and what was
written stays written, as when a sync in one process fails); one that dies without a
word (killed, out of memory) stops the sync with one sentence too; when the sync stops
for any reason, the helpers are ended. There is one helper per core, plus one (each waits
for the source's server or the store's write lock part of the time), at most four. Where
no helper can start, the pass is small (:data:`HELPERS_FROM`), or the machine has one
core, the sync reads here, in one process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pressroom.errors import SourceError
from pressroom.importer import RowParser
from pressroom.sources.candidate import Candidate, Reader
from pressroom.sources.checking import BatchTally, check_batch
from pressroom.sources.writing import Written, write_checked
from pressroom.store.engine import Store, open_store

__all__ = ["HELPERS_FROM", "RangeReader", "SyncedBatch", "helper_ranges", "start_helpers"]

HELPERS_FROM = 50_000
"""The fewest IDs a full pass spans for helpers to share it (starting them takes a second)."""

_HELPERS_MOST = 4  # beyond this the store's write lock is the limit, not the reading
_GC_THRESHOLD = 20_000
_RANGES_PER_BATCH = 5  # a range spans this many batches' worth of IDs
_WAITING = 4  # results per helper not yet taken by the sync
_POLL = 1.0  # seconds between looks at whether a silent helper is still alive
_CLOSING = 10.0  # seconds a helper that is done has to close its connections


@runtime_checkable
class RangeReader(Reader, Protocol):
    """A reader whose full pass can be read in ranges of IDs, each on its own (it is pickled
    to the helpers, so it holds no open connection until it reads)."""

    batch: int

    def ranges(self, since: datetime, width: int) -> list[tuple[int, int]]:
        """(first, last) ID ranges, ``width`` IDs each, that together hold every row
        ``batches(since)`` reads; [] when the pass cannot be shared out."""
        ...

    def range_batches(self, since: datetime, ids: tuple[int, int]) -> Iterator[list[Candidate]]:
        """The rows of ``batches(since)`` whose ID is in the range ``ids``."""
        ...


@dataclass(slots=True)
class SyncedBatch:
    """What a helper did with one batch: the checks' tally and what was written."""

    tally: BatchTally
    written: Written


def helper_ranges(reader: Reader, since: datetime) -> list[tuple[int, int]] | None:
    """The ID ranges helpers would share for a full pass from ``since``, or None when the
    pass is better read here (the reader cannot split it, it is small, one core)."""
    if _helper_count() < 2 or not isinstance(reader, RangeReader):
        return None
    ranges = reader.ranges(since, width=reader.batch * _RANGES_PER_BATCH)
    if sum(last - first + 1 for first, last in ranges) < HELPERS_FROM:
        return None
    return ranges


def start_helpers(
    reader: RangeReader,
    parser: RowParser,
    source: str,
    since: datetime,
    ranges: list[tuple[int, int]],
    store: Store,
    now: datetime,
) -> Iterator[SyncedBatch] | None:
    """Start helper processes syncing the rows of ``ranges`` (see the module docstring);
    what each batch did, in the order the helpers finish them. None when no helper can
    start (no fork server, no more processes allowed): the sync then reads in its own.

    The iterator raises:
        SourceError: the source cannot be read, or a helper stopped.
        StoreError: the store failed.
    """
    helpers = min(_helper_count(), len(ranges))
    try:
        context = multiprocessing.get_context("forkserver")
        tasks: Any = context.Queue()
        results: Any = context.Queue(maxsize=helpers * _WAITING)
    except (OSError, ValueError):  # no fork server on this system
        return None
    for ids in ranges:
        tasks.put(ids)
    for _ in range(helpers):
        tasks.put(None)
    where = (store.url, store.busy_timeout)
    processes = [
        context.Process(
            target=_helper,
            args=(n, reader, parser, source, since, where, now, tasks, results),
            name=f"pressroom-source-{source}-{n}",
            daemon=True,
        )
        for n in range(helpers)
    ]
    try:
        for process in processes:
            process.start()
    except OSError:  # no more processes allowed: what a started one wrote is kept
        _end(processes, [tasks, results])
        return None
    return _results(processes, [tasks, results], source)


def _results(processes: list[Any], queues: list[Any], source: str) -> Iterator[SyncedBatch]:
    """What the helpers send, until each has said it is done; the helpers ended after."""
    results = queues[1]
    try:
        done: set[int] = set()
        while len(done) < len(processes):
            try:
                item = results.get(timeout=_POLL)
            except queue.Empty:
                if results.empty():  # all a helper sent before it ended has been read
                    _check_alive(processes, done, source)
                continue
            if isinstance(item, _Done):
                done.add(item.helper)
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
        _end(processes, [], closing=_CLOSING)  # all done: let them close their connections
    finally:
        _end(processes, queues)


def _end(processes: list[Any], queues: list[Any], *, closing: float = 0.0) -> None:
    """End the helpers still running (after ``closing`` seconds for those closing their
    connections after their last batch), wait for each started one, close ``queues``."""
    for process in processes:
        if process.pid is not None and closing:
            process.join(timeout=closing)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        if process.pid is not None:
            process.join()
    for q in queues:
        q.cancel_join_thread()  # what is left in them is of no use to anyone
        q.close()


def _helper_count() -> int:
    """One helper per core this process may use, plus one (a helper waits on the source's
    server or the store's write lock part of the time); none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return 0 if cores < 2 else min(cores + 1, _HELPERS_MOST)


@dataclass(frozen=True, slots=True)
class _Done:
    """What helper number ``helper`` sends when the list of ranges is empty."""

    helper: int


def _check_alive(processes: list[Any], done: set[int], source: str) -> None:
    """Raise when a helper ended without handing back its end (a helper's messages are in
    the pipe before it exits, and the pipe is empty). One that did may exit as it likes."""
    for number, process in enumerate(processes):
        if number not in done and process.exitcode not in (None, 0):
            raise SourceError(
                f"source {source}: a helper process syncing the source's rows stopped "
                f"(exit code {process.exitcode}); the next full pass starts again"
            )


def _helper(
    number: int,
    reader: RangeReader,
    parser: RowParser,
    source: str,
    since: datetime,
    where: tuple[str, float],
    now: datetime,
    tasks: Any,
    results: Any,
) -> None:
    """A helper's life: sync ranges until the list is empty, then say so."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sync's to handle
    # A batch is thousands of new dicts and tuples: at the default threshold (700) the
    # collector ran every few rows, walking what the batch and the imports hold.
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 10, 10)
    store: Store | None = None
    try:
        store = open_store(where[0], migrate=False, busy_timeout=where[1])
        while (ids := tasks.get()) is not None:
            for batch in reader.range_batches(since, ids):
                checked = check_batch(batch, parser, source)
                written = write_checked(store, source, checked.checked, now)
                results.put(SyncedBatch(checked.tally, written))
        results.put(_Done(number))
    except BaseException as exc:  # handed back: the sync raises it
        results.put(_portable(exc, source))
    finally:
        reader.close()
        if store is not None:
            store.dispose()


def _portable(exc: BaseException, source: str) -> BaseException:
    """``exc`` if it survives pickling, else a SourceError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any exception that cannot travel is described instead
        return SourceError(f"source {source}: a helper process failed: {type(exc).__name__}")
    return exc
