"""The store translates what the database says when it cannot serve, and nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, OperationalError

from pressroom.errors import StoreError, StoreUnavailable
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import sections


def test_a_refused_row_passes_through_untranslated_and_without_its_values(store: Store) -> None:
    """Callers (the importers' batch splitting) still catch IntegrityError and DataError."""
    row = {"slug": "secret-slug-value", "name": "名", "position": 0, "weight": 0.0}
    with pytest.raises(IntegrityError) as caught, store.write() as conn:
        conn.execute(insert(sections).values(**row))
        conn.execute(insert(sections).values(**row))
    # The statement's parameters (subscribers' addresses in a batch) are never dumped;
    # PostgreSQL's own DETAIL may still name the one key that clashed.
    assert "[parameters:" not in str(caught.value)
    assert "SQL parameters hidden" in str(caught.value)


def test_a_locked_sqlite_store_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    store = open_store(f"sqlite:///{path}", busy_timeout=0.2, migrate=False)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable) as caught, store.write():
            pass
    finally:
        holder.rollback()
        holder.close()
        store.dispose()
    assert str(caught.value) == (
        f"the store sqlite:///{path} is locked by another process (waited 0.2 s); "
        "try again when it is free"
    )
    assert isinstance(caught.value.__cause__, OperationalError)
    assert isinstance(caught.value, StoreError)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://u:pw@127.0.0.1:5x/d", "the store URL postgresql+psycopg://u:***@"),
        (
            "postgresql+psycopg://u:pw@127.0.0.1:1/d",
            "cannot reach the store postgresql+psycopg://u:***@",
        ),
        (
            "sqlite:////nonexistent-folder/x.db",
            "cannot open the store sqlite:////nonexistent-folder/x.db",
        ),
    ],
)
def test_unusable_urls_are_one_sentence_without_password(url: str, expected: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith(expected) and "pw" not in message.replace("://u:***", "")
    assert "\n" not in message and "[SQL" not in message
