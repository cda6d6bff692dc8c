"""Alembic migrations, run in-process and serialised across processes.

Several workers may start at once against one store; each takes a lock before looking at
the schema version (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on
PostgreSQL), so exactly one of them migrates and the others see the result.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["SCHEMA_HEAD", "current_revision", "upgrade"]

SCHEMA_HEAD = "0009"
"""The newest migration's revision id; a test keeps it equal to Alembic's head."""

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x70726573  # "pres": an arbitrary constant shared by every pressroom


def current_revision(conn: Connection) -> str | None:
    """The store's schema revision, or None for an empty store."""
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


def upgrade(conn: Connection) -> None:
    """Bring the schema to :data:`SCHEMA_HEAD` inside ``conn``'s write transaction.

    Callers check :func:`current_revision` first (one cheap query) and call this only
    when the store is behind; on SQLite ``conn`` must hold the write lock already
    (``BEGIN IMMEDIATE``, see :meth:`pressroom.store.engine.Store.write`).
    """
    from alembic import command
    from alembic.config import Config

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
