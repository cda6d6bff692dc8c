"""``pressroom bounces list``: the recorded events as lines, newest first."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from pressroom.errors import UsageError
from pressroom.incoming import MIN_TIME, printable
from pressroom.models import BounceKind
from pressroom.store.bounces import BounceRow, list_events
from pressroom.store.engine import Store

__all__ = ["bounce_lines", "parse_kinds", "parse_since"]

_AGE = re.compile(r"^(\d+)([dhm])$")
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_kinds(values: Sequence[str]) -> tuple[BounceKind, ...]:
    """``--kind`` values (repeated or comma-separated) as kinds.

    Raises:
        UsageError: a value that is not a kind.
    """
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    known = [k.value for k in BounceKind]
    for name in names:
        if name not in known:
            raise UsageError(f"--kind {name}: not a kind (one of {', '.join(known)})")
    return tuple(BounceKind(n) for n in names)


def parse_since(value: str | None, now: datetime, zone: tzinfo) -> datetime | None:
    """``--since``: an age (``7d``, ``12h``, ``30m``) or a date/time in the site's zone; an
    age longer ago than any date means since the beginning.

    Raises:
        UsageError: neither.
    """
    if value is None:
        return None
    match = _AGE.match(value.strip())
    if match:
        try:
            return max(now - timedelta(**{_AGE_UNITS[match.group(2)]: int(match.group(1))}),
                       MIN_TIME)  # fmt: skip
        except OverflowError:  # longer ago than any date: everything is newer
            return MIN_TIME
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"--since {value}: give a date (2026-12-01), a time (2026-12-01T08:00) or an age (7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


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
    return printable(f"{when}  {event.kind:<11}  {who}{run}  {action}  {detail}".rstrip())
