"""A value that moves whenever anything is committed to a store.

SQLite's ``PRAGMA data_version`` changes, on one connection, whenever *another*
connection commits. A private read-only probe connection per database file therefore sees
every commit (the importer's, the builder's own, other processes'). On PostgreSQL the WAL
insert position plays that part.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from pressroom.store.engine import Store

__all__ = ["data_version", "database_key"]

_MAX_PROBES = 16
_lock = threading.Lock()
_probes: dict[str, sqlite3.Connection] = {}


def database_key(store: Store) -> str | None:
    """A key naming the store's database (None: ``:memory:`` or a ``file:`` URI, whose
    commits cannot be watched from another connection)."""
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
    database = database_key(store)
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
