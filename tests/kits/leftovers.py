"""What a test leaves behind: child processes still running (and their pipes), and the
connections of the SQLAlchemy engines it used. ``tests/conftest.py`` ends them with the
test (the fixture ``_nothing_left_behind``).

A test that fails before its own cleanup (``proc.communicate()``, ``store.dispose()``) would
otherwise leave them to the garbage collector, whose report ("subprocess N is still
running", "unclosed file", psycopg's "connection ... was deleted while still open") lands
in whatever test runs next on that worker, as that test's error. Ending them here puts any
fault on the test that made it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event

__all__ = ["children", "end_children", "engines_used", "shared_helpers"]


def children() -> set[int]:
    """The process ids of this process's children (running or not yet waited for).

    Raw reads of ``/proc/<pid>/stat`` (about 2 ms for 150 processes; pathlib took ten
    times that, twice per test)."""
    found = set()
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                data = os.read(stat, 512)
            finally:
                os.close(stat)
        except OSError:  # it ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        if int(data.rsplit(b")", 1)[1].split(None, 3)[1]) == me:
            found.add(int(name))
    return found


def shared_helpers() -> set[int]:
    """The children multiprocessing starts once per process and keeps for its life (its
    resource tracker and fork server, started by whichever test first needs them): not a
    test's to end (private attributes: the standard library has no public way to ask)."""
    from multiprocessing import forkserver, resource_tracker

    pids = (
        getattr(resource_tracker._resource_tracker, "_pid", None),
        getattr(forkserver._forkserver, "_forkserver_pid", None),
    )
    return {pid for pid in pids if pid is not None}


def end_children(pids: set[int]) -> list[str]:
    """Kill the children ``pids`` still running, wait for them and close their pipes; the
    command lines of those that were still running."""
    running = []
    popens = _popens(pids)
    for pid in pids - {process.pid for process in popens}:  # not ours to wait for: a kit's
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            running.append(f"process {pid}")
    for process in popens:
        if process.poll() is None:
            running.append(" ".join(str(arg) for arg in process.args)[:300])  # type: ignore[union-attr]
            process.kill()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    return running


def _popens(pids: set[int]) -> list[subprocess.Popen]:  # type: ignore[type-arg]
    """The Popen objects of ``pids`` (a scan of the heap: only when a test left one)."""
    found = []
    for o in gc.get_objects():
        try:
            if isinstance(o, subprocess.Popen) and o.pid in pids:
                found.append(o)
        except ReferenceError:  # a weak proxy whose object is gone (isinstance asks it)
            continue
    return found


@contextmanager
def engines_used() -> Iterator[weakref.WeakSet[Engine]]:
    """The engines that open a connection meanwhile (to dispose of them afterwards: an
    engine keeps working after ``dispose()``, it connects afresh)."""
    used: weakref.WeakSet[Engine] = weakref.WeakSet()

    def seen(conn: Connection) -> None:
        used.add(conn.engine)

    event.listen(Engine, "engine_connect", seen)
    try:
        yield used
    finally:
        event.remove(Engine, "engine_connect", seen)
