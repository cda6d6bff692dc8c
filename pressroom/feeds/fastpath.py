"""The no-change fast path: "nothing changed since the last build" in microseconds.

The store's data version (:mod:`pressroom.store.data_version`) moves with every commit.
A build that wrote nothing to the store leaves a :class:`Memo` (data version, settings
key, when the next future-dated article appears, the files it published); the next build
in the same process with the same memo and files has nothing to do. ``:memory:`` stores
and new processes take the fingerprint path instead (a constant number of index scans).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pressroom.store.data_version import database_key
from pressroom.store.engine import Store

__all__ = ["Memo", "file_stamps", "forget", "recall", "remember"]

FileStamps = dict[str, tuple[int, int]]
"""Relative path to (size, mtime in ns) of every file a build published."""


@dataclass(frozen=True, slots=True)
class Memo:
    """What a build that changed nothing saw."""

    data_version: int | str
    settings_key: str
    next_visible_at: datetime | None
    files: FileStamps
    feed_count: int
    built_for: datetime


_lock = threading.Lock()
_memos: dict[tuple[str, str], Memo] = {}


def file_stamps(root: Path, names: list[str]) -> FileStamps | None:
    """(size, mtime) of each file under ``root``; None when one is missing."""
    stamps: FileStamps = {}
    for name in names:
        try:
            info = (root / name).stat()
        except FileNotFoundError:
            return None
        stamps[name] = (info.st_size, info.st_mtime_ns)
    return stamps


def recall(store: Store, output_dir: Path) -> Memo | None:
    """The memo of the last no-write build of ``store`` into ``output_dir``."""
    database = database_key(store)
    with _lock:
        return _memos.get((database, str(output_dir))) if database else None


def remember(store: Store, output_dir: Path, memo: Memo) -> None:
    """Keep ``memo`` for the next build of ``store`` into ``output_dir``."""
    database = database_key(store)
    if database is not None:
        with _lock:
            _memos[(database, str(output_dir))] = memo


def forget(store: Store, output_dir: Path) -> None:
    """Drop the memo (the last build wrote to the store or to the files)."""
    database = database_key(store)
    if database is not None:
        with _lock:
            _memos.pop((database, str(output_dir)), None)
