"""The dates a digest names: the days its articles were selected from.

A digest's window is made of whole local days (:mod:`pressroom.digest.plan`): a daily
digest sent on 8 December covers 7 December 00:00 to 8 December 00:00 and is labelled
``12月7日``; a weekly one sent that day covers ``12月1日至12月7日``. Each end is rounded to
the nearest local midnight, which leaves such windows as they are and still names sensible
days for runs recorded before windows were aligned (07:00 to 07:00). A window shorter than
half a day names the day it ends on. The year is written only when the two days fall in
different years.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["window_days", "window_label", "window_name"]

_HALF_DAY = timedelta(hours=12)


def window_days(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last local day of the window ``[start, end)``, each end rounded to
    the nearest midnight in ``zone``."""
    first = (start.astimezone(zone) + _HALF_DAY).date()
    last = (end.astimezone(zone) - _HALF_DAY).date()
    if last < first:  # under half a day: the day it ends on
        first = last = end.astimezone(zone).date()
    return first, last


def window_label(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``12月7日`` or ``12月1日至12月7日`` (``2026年12月29日至2027年1月4日`` across a year)."""
    first, last = window_days(start, end, zone)
    if first == last:
        return _day(first)
    if first.year != last.year:
        return f"{first.year}年{_day(first)}至{last.year}年{_day(last)}"
    return f"{_day(first)}至{_day(last)}"


def window_name(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """The window's days as a file name: ``2026-12-07`` or ``2026-12-01_2026-12-07`` (an
    archive page is named by what it holds, not by the run that sent it)."""
    first, last = window_days(start, end, zone)
    return first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"


def _day(day: date) -> str:
    return f"{day.month}月{day.day}日"
