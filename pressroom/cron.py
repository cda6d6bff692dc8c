"""Crontab expressions read as cron reads them, for APScheduler 3.x's CronTrigger.

APScheduler 3's ``CronTrigger.from_crontab`` numbers the days of the week from Monday = 0
(apscheduler issue 286); crontab numbers them from Sunday = 0 (and 7). The config check
and the worker both read expressions through :func:`crontab_fields`, so they agree.
"""

from __future__ import annotations

__all__ = ["crontab_fields", "crontab_weekdays"]


def crontab_fields(expression: str) -> dict[str, str]:
    """Split a five-field crontab expression into CronTrigger keyword arguments.

    Raises:
        ValueError: not five fields, or a bad day of week.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"needs 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": crontab_weekdays(weekday),
    }


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field in APScheduler's terms (day names, which both share).

    Numbers become names (``1-5`` -> ``mon,tue,wed,thu,fri``, ``0`` and ``7`` -> ``sun``);
    parts that already use names, and ``*``, pass through.
    """
    if field == "*" or any(c.isalpha() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        days |= _expand(part)
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def _expand(part: str) -> set[int]:
    span, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if span == "*":
        first, last = 0, 6
    else:
        first_text, _, last_text = span.partition("-")
        first = int(first_text)
        last = int(last_text) if last_text else (6 if step_text else first)
    if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step >= 1):
        raise ValueError(f"bad day of week {part!r} (use 0-7, 0 and 7 are Sunday)")
    return {d % 7 for d in range(first, last + 1, step)}
