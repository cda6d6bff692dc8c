"""Store.open_writer: the sender's own connection, set up as Store.write() sets its up."""

from __future__ import annotations

import sqlite3

import pytest

from pressroom.store.engine import Store


def test_the_writers_transactions_take_the_sqlite_write_lock_up_front(store: Store) -> None:
    if not store.is_sqlite:
        pytest.skip("BEGIN IMMEDIATE is SQLite's")
    conn = store.open_writer()
    try:
        with conn.begin():  # nothing read or written yet: only BEGIN IMMEDIATE holds the lock
            other = sqlite3.connect(str(store.engine.url.database), timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
    finally:
        conn.close()


def test_the_writers_statements_wait_no_longer_than_the_busy_timeout(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite's busy timeout is set on every connection of the engine")
    conn = store.open_writer()
    try:
        with conn.begin():
            query = "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"
            millis = int(conn.exec_driver_sql(query).scalar_one())
    finally:
        conn.close()
    assert millis == int(store.busy_timeout * 1000)
