"""``pressroom bounces list``: the recorded events as lines, newest first."""

from __future__ import annotations

from datetime import datetime, tzinfo

from pressroom.models import BounceKind
from pressroom.store.bounces import BounceRow, list_events
from pressroom.store.engine import Store

__all__ = ["bounce_lines"]


def bounce_lines(
    store: Store,
    *,
    kinds: tuple[BounceKind, ...] = (),
    since: datetime | None = None,
    zone: tzinfo,
    limit: int | None = None,
) -> list[str]:
    """One line per event: when, kind, status, address, what was done, why."""
    with store.read() as conn:
        rows = list_events(conn, kinds=kinds, since=since, limit=limit)
    return [_line(row, zone) for row in rows]


def _line(row: BounceRow, zone: tzinfo) -> str:
    event = row.event
    when = event.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    who = row.subscriber_email or event.recipient or "-"
    run = f" run {event.digest_id}" if event.digest_id is not None else ""
    action = event.action or "-"
    detail = "; ".join(p for p in (event.status_code or "", event.diagnostic, event.note) if p)
    return f"{when}  {event.kind:<11}  {who}{run}  {action}  {detail}".rstrip()
