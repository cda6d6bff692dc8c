"""The ``websub_pings`` table: publish pings per WebSub hub, added up across processes.

The feeds build's publisher (:mod:`pressroom.feeds.websub`) adds each hub's outcome after
a build; ``/metrics`` reads the totals. One row per hub, so a read is a scan of a handful
of rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.store.schema import websub_pings

__all__ = ["add_pings", "ping_totals"]


def add_pings(conn: Connection, hub: str, *, ok: int, failed: int, now: datetime) -> None:
    """Add ``ok`` accepted and ``failed`` given-up feed URLs to ``hub``'s counters."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(websub_pings)
        .values(hub=hub, ok=ok, failed=failed, last_at=now)
        .on_conflict_do_update(
            index_elements=[websub_pings.c.hub],
            set_={
                "ok": websub_pings.c.ok + ok,
                "failed": websub_pings.c.failed + failed,
                "last_at": now,
            },
        )
    )


def ping_totals(conn: Connection) -> dict[str, tuple[int, int]]:
    """Every hub's ``(ok, failed)`` feed URL counts."""
    query = select(websub_pings.c.hub, websub_pings.c.ok, websub_pings.c.failed)
    return {str(hub): (int(ok), int(failed)) for hub, ok, failed in conn.execute(query)}
