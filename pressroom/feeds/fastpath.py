"""The no-change fast path: "nothing changed since the last build" in microseconds.

SQLite's ``PRAGMA data_version`` changes, on one connection, whenever *another*
connection commits. A private read-only probe connection per database file therefore sees
every commit (the importer's, the builder's own, other processes'). On PostgreSQL the WAL
insert position plays that part. A build that wrote nothing to the store leaves a
:class:`Memo` (data version, settings key, when the next future-dated article appears,
the files it published); the next build in the same process with the same memo and files
has nothing to do. ``:memory:`` stores and new processes take the fingerprint path instead
(a constant number of index scans).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from pressroom.store.engine import Store

__all__ = ["Memo", "data_version", "file_stamps", "forget", "recall", "remember"]

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


_MAX_PROBES = 16
_lock = threading.Lock()
_probes: dict[str, sqlite3.Connection] = {}
_memos: dict[tuple[str, str], Memo] = {}


def _database(store: Store) -> str | None:
    """A key naming the store's database (None: no fast path for it)."""
    url = store.engine.url
    if not store.is_sqlite:
        return url.render_as_string(hide_password=True)
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return str(Path(database).resolve())


def data_version(store: Store) -> int | str | None:
    """A value that changes whenever anything was committed to the store (None: unknown).

    SQLite: ``PRAGMA data_version`` on a private read-only probe connection.
    PostgreSQL: the WAL insert position, which moves with every commit in the cluster
    (other databases too: it errs towards rebuilding, never towards missing a change);
    None on a standby or without the right to read it.
    """
    database = _database(store)
    if database is None:
        return None
    if not store.is_sqlite:
        return _wal_position(store)
    with _lock:
        probe = _probes.pop(database, None)
        if probe is None:
            uri = f"{Path(database).as_uri()}?mode=ro"
            probe = sqlite3.connect(uri, uri=True, check_same_thread=False)
            while len(_probes) >= _MAX_PROBES:  # least recently used first
                _probes.pop(next(iter(_probes))).close()
        _probes[database] = probe
        return int(probe.execute("PRAGMA data_version").fetchone()[0])


def _wal_position(store: Store) -> str | None:
    try:
        with store.engine.connect() as conn:
            value = conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text").scalar()
    except SQLAlchemyError:  # a standby in recovery, or no permission: no fast path
        return None
    return str(value)


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
    database = _database(store)
    with _lock:
        return _memos.get((database, str(output_dir))) if database else None


def remember(store: Store, output_dir: Path, memo: Memo) -> None:
    """Keep ``memo`` for the next build of ``store`` into ``output_dir``."""
    database = _database(store)
    if database is not None:
        with _lock:
            _memos[(database, str(output_dir))] = memo


def forget(store: Store, output_dir: Path) -> None:
    """Drop the memo (the last build wrote to the store or to the files)."""
    database = _database(store)
    if database is not None:
        with _lock:
            _memos.pop((database, str(output_dir)), None)
