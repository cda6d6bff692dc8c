"""Time: one injectable clock, conversions between UTC and the site's zone, display."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

__all__ = ["Clock", "as_utc", "display_time", "system_clock"]

Clock = Callable[[], datetime]
"""A callable returning the current time, timezone-aware, in UTC."""


def system_clock() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime, naive_zone: tzinfo) -> datetime:
    """Return ``value`` in UTC; a naive ``value`` is read as a time in ``naive_zone``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=naive_zone)
    return value.astimezone(UTC)


def display_time(moment: datetime, zone: tzinfo) -> str:
    """``moment`` as readers of the site write it, in ``zone``: ``2020年1月31日 22:51``."""
    local = moment.astimezone(zone)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
