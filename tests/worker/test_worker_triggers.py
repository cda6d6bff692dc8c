"""Cron triggers in their zone: once per local day across daylight-saving changes."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from pressroom.config import ScheduleSettings, Settings
from pressroom.worker.triggers import (
    crontab_weekdays,
    fire_times,
    latest_fire_time,
    make_trigger,
    next_fire_time,
)

BERLIN = ZoneInfo("Europe/Berlin")
SPRING = datetime(2026, 3, 29)  # 02:00 CET -> 03:00 CEST: 02:30 does not exist
AUTUMN = datetime(2026, 10, 25)  # 03:00 CEST -> 02:00 CET: 02:30 happens twice


def trigger(cron: str, zone: str | None = "Europe/Berlin"):  # type: ignore[no-untyped-def]
    schedule = ScheduleSettings(name="s", job="digest", cron=cron, timezone=zone)
    return make_trigger(schedule, Settings().site.timezone)


def local_days(times: list[datetime]) -> Counter[str]:
    return Counter(t.astimezone(BERLIN).date().isoformat() for t in times)


def scheduler_walk(trig, start: datetime, end: datetime) -> list[datetime]:  # type: ignore[no-untyped-def]
    """Fire times as APScheduler asks for them: previous fire time, ``now`` a bit later."""
    out, moment = [], trig.get_next_fire_time(None, start)
    while moment is not None and moment <= end and len(out) < 100:
        out.append(moment)
        moment = trig.get_next_fire_time(moment, moment + timedelta(milliseconds=7))
    return out


@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["spring", "autumn"])
@pytest.mark.parametrize("walk", ["fire_times", "scheduler"])
def test_0230_fires_once_per_local_day_on_change_days(day: datetime, walk: str) -> None:
    trig = trigger("30 2 * * *")
    start = (day - timedelta(days=3)).replace(tzinfo=BERLIN)
    end = (day + timedelta(days=3)).replace(tzinfo=BERLIN)
    times = (
        list(fire_times(trig, start, end))
        if walk == "fire_times"
        else scheduler_walk(trig, start, end)
    )
    days = local_days(times)
    assert len(times) == 6 and set(days.values()) == {1}, times
    assert day.date().isoformat() in days


def test_spring_0230_fires_at_0330_local_the_first_wall_time_that_exists() -> None:
    fired = next(
        fire_times(
            trigger("30 2 * * *"),
            SPRING.replace(tzinfo=BERLIN),
            SPRING.replace(hour=12, tzinfo=BERLIN),
        )
    )
    assert fired.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert fired.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_autumn_0230_fires_at_the_first_of_the_two_0230s() -> None:
    fired = next(
        fire_times(
            trigger("30 2 * * *"),
            AUTUMN.replace(tzinfo=BERLIN),
            AUTUMN.replace(hour=12, tzinfo=BERLIN),
        )
    )
    assert fired.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_plain_apscheduler_fires_twice_in_the_repeated_hour() -> None:
    """Why LocalCronTrigger exists: 3.11's CronTrigger fires 02:30 CEST and 02:30 CET."""
    plain = CronTrigger.from_crontab("30 2 * * *", timezone=BERLIN)
    start = AUTUMN.replace(tzinfo=BERLIN)
    times = scheduler_walk(plain, start, start + timedelta(hours=12))[:2]
    assert [t.astimezone(UTC).hour for t in times] == [0, 1]
    assert {t.astimezone(BERLIN).strftime("%H:%M") for t in times} == {"02:30"}


@pytest.mark.parametrize(("day", "hours"), [(SPRING, 23), (AUTUMN, 25)], ids=["spring", "autumn"])
def test_hourly_schedule_keeps_elapsed_hours(day: datetime, hours: int) -> None:
    """A '*' hour is a period in elapsed time: every real hour fires, none twice."""
    trig = trigger("0 * * * *")
    start = day.replace(tzinfo=BERLIN)
    end = (day + timedelta(days=1)).replace(tzinfo=BERLIN) - timedelta(seconds=1)
    for times in (list(fire_times(trig, start, end)), scheduler_walk(trig, start, end)):
        assert len(times) == hours
        utc = [t.astimezone(UTC) for t in times]  # same-zone subtraction ignores offsets
        gaps = {b - a for a, b in itertools.pairwise(utc)}
        assert gaps == {timedelta(hours=1)}


def test_latest_fire_time_is_the_most_recent_at_or_before_now() -> None:
    trig = trigger("0 8 * * *", zone="Asia/Shanghai")
    now = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert latest_fire_time(trig, now) == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    early = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
    assert latest_fire_time(trig, early) == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    assert latest_fire_time(trig, datetime(2026, 11, 29, 0, 0, tzinfo=UTC)) == datetime(
        2026, 11, 29, 0, 0, tzinfo=UTC
    )


def test_latest_fire_time_of_a_weekly_schedule_looks_back_far_enough() -> None:
    trig = trigger("0 9 * * 1", zone="UTC")  # Mondays 09:00
    now = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # a Sunday
    assert latest_fire_time(trig, now) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_schedule_zone_defaults_to_the_site_zone() -> None:
    trig = trigger("0 8 * * *", zone=None)
    upcoming = next_fire_time(trig, datetime(2026, 11, 29, 4, 0, tzinfo=UTC))
    assert upcoming is not None
    assert upcoming.astimezone(UTC) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 08:00 CST


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("5-7", "sun,fri,sat"),
        ("mon-fri", "mon-fri"),
    ],
)
def test_crontab_weekdays_follow_crontab_numbering(field: str, expected: str) -> None:
    assert crontab_weekdays(field) == expected


@pytest.mark.parametrize("field", ["8", "5-2", "1/0"])
def test_bad_weekdays_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match="day of week"):
        crontab_weekdays(field)
