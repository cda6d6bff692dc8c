"""``feed_state``: the fingerprint of each feed's last published build.

The feeds build compares these with fresh fingerprints to find the feeds that changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pressroom.store.schema import feed_state

__all__ = ["load_fingerprints", "save_fingerprints"]


def load_fingerprints(conn: Connection) -> dict[str, str]:
    """Feed name to the fingerprint of its last published build."""
    return {r.name: r.fingerprint for r in conn.execute(select(feed_state))}


def save_fingerprints(
    conn: Connection,
    changed: Mapping[str, tuple[str, datetime | None]],
    removed: Sequence[str],
    now: datetime,
) -> None:
    """Record ``changed`` feeds (name to fingerprint, newest time) and forget ``removed``."""
    names = [*changed, *removed]
    if names:
        conn.execute(feed_state.delete().where(feed_state.c.name.in_(names)))
    rows: list[dict[str, Any]] = [
        {"name": name, "fingerprint": fp, "newest_at": newest, "built_at": now}
        for name, (fp, newest) in changed.items()
    ]
    if rows:
        conn.execute(feed_state.insert(), rows)
