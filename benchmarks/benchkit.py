"""What the import benchmarks share: fresh stores on SQLite or PostgreSQL, and running a
measurement in a forked child so each path's peak RSS is its own."""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from pressroom.store.engine import Store, open_store

PG_ENV = "PRESSROOM_TEST_PG_URL"


@contextmanager
def store_url(backend: str, folder: Path, name: str) -> Iterator[str]:
    """A fresh store URL: a new SQLite file, or a new schema on $PRESSROOM_TEST_PG_URL."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / name}.db"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        raise SystemExit(f"--backend postgres needs ${PG_ENV}")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def in_child(work: Callable[[], float]) -> tuple[float, float]:
    """Run ``work`` (returning rows/s) in a forked process; return (rows/s, peak RSS MB).

    The peak is of the process and every process it starts (the importers' parsing
    helper), sampled from /proc every 0.1 s, or the process's own ``ru_maxrss`` if higher.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    def run() -> None:
        rate = work()
        queue.put((rate, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

    child = context.Process(target=run)
    child.start()
    peak = 0.0
    while child.is_alive() and queue.empty():
        peak = max(peak, _tree_rss_mb(child.pid or 0))
        time.sleep(0.1)
    rate, own = queue.get()
    child.join()
    return rate, max(peak, own)


def _tree_rss_mb(root: int) -> float:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def opened(url: str) -> Store:
    """The store at ``url``, migrated."""
    return open_store(url)
