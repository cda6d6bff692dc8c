"""Cron triggers in a schedule's time zone, and the fire-time arithmetic the worker needs.

APScheduler 3.11's :class:`CronTrigger` handles the spring change by firing a wall time
that does not exist (02:30 in Europe/Berlin on 2026-03-29) one hour later, once. In the
autumn it fires a fixed wall time inside the repeated hour twice (02:30 CEST, then 02:30
CET). :class:`LocalCronTrigger` follows cron's rule instead (cronie, ``man 8 cron``):
a job whose hour is fixed runs once in the repeated hour; a job whose hour is ``*`` runs
in both passes, because its period is in elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from pressroom.config import ScheduleSettings
from pressroom.cron import crontab_fields, crontab_weekdays

__all__ = [
    "LocalCronTrigger",
    "crontab_weekdays",
    "fire_times",
    "latest_fire_time",
    "make_trigger",
    "next_fire_time",
]

_LOOKBACKS = (timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367))


class LocalCronTrigger(CronTrigger):  # type: ignore[misc]
    """A :class:`CronTrigger` that fires a fixed-hour wall time once per local day."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> Any:
        """The next fire time after ``previous_fire_time`` (and not before ``now``)."""
        if previous_fire_time is None:
            return self._normal(super().get_next_fire_time(None, now))
        # In UTC: 3.11 drops ``fold`` when it adds to a local time, and may then hand back
        # the previous fire time itself (and loop on it in the repeated hour).
        previous = previous_fire_time.astimezone(UTC)
        nxt = super().get_next_fire_time(previous, now)
        for _ in range(4):
            if nxt is None or not self._repeats(previous, nxt):
                break
            after = max(nxt.astimezone(UTC), previous)
            nxt = super().get_next_fire_time(after, after + timedelta(seconds=1))
        return self._normal(nxt)

    def _normal(self, moment: datetime | None) -> datetime | None:
        # 3.11 returns a nonexistent wall time (02:30+01:00 on a spring change day), and
        # an aware time inside a repeated hour compares unequal to every time in another
        # zone (PEP 495): fire times are handed out in UTC; display converts them.
        return None if moment is None else moment.astimezone(UTC)

    def _repeats(self, previous: datetime, candidate: datetime) -> bool:
        # 3.11 may hand back the previous time itself, or the same wall time an hour later
        # (the repeated hour of an autumn change): neither is a new fire time here.
        if candidate <= previous:
            return True
        same_wall = _wall(candidate, self.timezone) == _wall(previous, self.timezone)
        return same_wall and not self._hour_is_wildcard()

    def _hour_is_wildcard(self) -> bool:
        hour = next(f for f in self.fields if f.name == "hour")
        return str(hour) == "*"


def _wall(moment: datetime, zone: Any) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def make_trigger(schedule: ScheduleSettings, site_zone: str) -> LocalCronTrigger:
    """The trigger for ``schedule`` (its cron expression in its time zone, else
    ``site_zone``).

    The day of week follows crontab (0 or 7 = Sunday, 1 = Monday), not APScheduler 3.x's
    ``from_crontab``, which reads 0 as Monday (apscheduler issue 286).
    """
    return LocalCronTrigger(**crontab_fields(schedule.cron), timezone=schedule.zone(site_zone))


def next_fire_time(trigger: LocalCronTrigger, now: datetime) -> datetime | None:
    """The first fire time after ``now`` (UTC)."""
    result: datetime | None = trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
    return result


def fire_times(trigger: LocalCronTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every fire time in ``[start, end]``, in order, as the scheduler would fire them."""
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment <= end:
        yield moment
        moment = trigger.get_next_fire_time(moment, moment)


def latest_fire_time(
    trigger: LocalCronTrigger, now: datetime, *, within: timedelta = timedelta(0)
) -> datetime | None:
    """The most recent fire time at or before ``now``; None if none in the last year.

    Looks back ``within`` first (the grace period), then widening windows, so a frequent
    schedule costs a few hundred trigger steps at most.
    """
    windows = [max(within, timedelta(minutes=1)), *(w for w in _LOOKBACKS if w > within)]
    for window in windows:
        last = None
        for last in fire_times(trigger, now - window, now):  # noqa: B007
            pass
        if last is not None:
            return last
    return None
