"""Planning a digest run: its schedule, period key, window and selected articles.

The period key is the schedule's local day (``2026-11-29``) or ISO week (``2026-W48``) of
the fire time: it names the run. The run's window is made of whole local days, so that the
dates its label names (:mod:`pressroom.digest.labels`) are exactly the days its articles
were selected from: it ends at the local midnight that starts the fire time's day, and
starts at the schedule's watermark (the end of its last completed run) or, for a
schedule's first run, one period of days (1 or 7) before that midnight. A daily digest
sent at 07:00 on 8 December holds the articles of 7 December, 00:00 to 24:00; the ones
published since midnight wait for the next day's digest. A weekly one sent on Tuesday
8 December holds 1 to 7 December.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pressroom.config import DEFAULT_SCHEDULES, ScheduleSettings
from pressroom.digest.config import DigestConfig
from pressroom.digest.select import ContentCache, important_articles
from pressroom.errors import UsageError
from pressroom.job_kinds import kind_rules
from pressroom.models import Article, Frequency, Section
from pressroom.store.articles import articles_by_ids, list_sections
from pressroom.store.digests import Digest, earliest_start, find_digest, last_completed

__all__ = [
    "Plan",
    "digest_schedules",
    "period_key",
    "plan_for_digest",
    "plan_new_run",
    "resolve_schedule",
]

PERIOD_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7}


def digest_schedules(configured: Sequence[ScheduleSettings]) -> list[ScheduleSettings]:
    """The digest schedules of ``[[schedules]]``, or the default daily one when none is."""
    found = [s for s in configured if kind_rules(s.job).sends_digest]
    return found or [s for s in DEFAULT_SCHEDULES if kind_rules(s.job).sends_digest]


def resolve_schedule(configured: Sequence[ScheduleSettings], name: str | None) -> ScheduleSettings:
    """The digest schedule called ``name`` (default: the first one).

    Args:
        configured: ``[[schedules]]`` (every job; the digest ones are picked).
        name: a schedule name, or None.

    Raises:
        UsageError: no digest schedule has that name.
    """
    schedules = digest_schedules(configured)
    if name is None:
        return schedules[0]
    for schedule in schedules:
        if schedule.name == name:
            return schedule
    known = ", ".join(s.name for s in schedules)
    raise UsageError(f"--schedule {name!r}: no digest schedule has that name (known: {known})")


def frequency_of(schedule: ScheduleSettings) -> Frequency:
    """A digest schedule's frequency (daily when unset)."""
    return Frequency(schedule.frequency or Frequency.DAILY)


def period_key(frequency: Frequency, at: datetime, zone: ZoneInfo) -> str:
    """``2026-11-29`` (daily) or ``2026-W48`` (weekly, ISO) of ``at`` in ``zone``."""
    local = at.astimezone(zone)
    if frequency == Frequency.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.date().isoformat()


@dataclass(frozen=True, slots=True)
class Plan:
    """A run's selection: its window, the ranked articles and who gets what."""

    schedule: ScheduleSettings
    frequency: Frequency
    period: str
    window_start: datetime
    window_end: datetime
    sections: list[Section]
    ranked: list[Article]
    contents: ContentCache
    existing: Digest | None

    @property
    def key(self) -> str:
        """``schedule:period``."""
        return f"{self.schedule.name}:{self.period}"


def plan_new_run(
    conn: Connection,
    config: DigestConfig,
    schedule: ScheduleSettings,
    at: datetime,
    now: datetime,
) -> Plan:
    """Plan the run of ``schedule`` for the period of ``at``; reuse it if it exists."""
    frequency = frequency_of(schedule)
    zone = schedule.zone(config.site_timezone)
    period = period_key(frequency, at, zone)
    existing = find_digest(conn, schedule.name, period)
    if existing is not None:
        return plan_for_digest(conn, config, schedule, existing)
    end = min(_local_midnight(at.astimezone(zone).date(), zone), now)
    first_start = _local_midnight(end.astimezone(zone).date(), zone, -PERIOD_DAYS[frequency])
    start = min(_watermark(conn, schedule.name) or first_start, end)
    sections = list_sections(conn)
    ranked = important_articles(conn, config, sections, start, end)
    contents = ContentCache(ranked, sections, config.rules.max_items)
    return Plan(schedule, frequency, period, start, end, sections, ranked, contents, None)


def _local_midnight(day: date, zone: ZoneInfo, days: int = 0) -> datetime:
    """The start of ``day`` (moved by ``days``) in ``zone``, in UTC; calendar days, so a
    day of 23 or 25 hours around a DST change is still one day."""
    moved = day + timedelta(days=days)
    return datetime.combine(moved, time(0), tzinfo=zone).astimezone(UTC)


def _watermark(conn: Connection, schedule: str) -> datetime | None:
    """Where the next run starts: the last completed run's end; before any completed
    run, the start of the earliest (failed or superseded) run, so it loses nothing."""
    last = last_completed(conn, schedule)
    return last.window_end if last is not None else earliest_start(conn, schedule)


def plan_for_digest(
    conn: Connection, config: DigestConfig, schedule: ScheduleSettings, digest: Digest
) -> Plan:
    """The plan of an existing run: its frozen window and articles."""
    sections = list_sections(conn)
    ranked = articles_by_ids(conn, digest.article_ids)
    contents = ContentCache(ranked, sections, config.rules.max_items)
    return Plan(
        schedule,
        digest.frequency,
        digest.period,
        digest.window_start,
        digest.window_end,
        sections,
        ranked,
        contents,
        digest,
    )
