"""What every digest call starts from: the schedule, the digest's settings, the times.

A real send, a dry run, a test copy and a preview all begin the same way:
:func:`digest_request` resolves the schedule among the digest's settings and reads the
clock once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pressroom.clock import Clock
from pressroom.config import ScheduleSettings
from pressroom.digest.config import DigestConfig
from pressroom.digest.plan import resolve_schedule

__all__ = ["DigestRequest", "digest_request"]


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """One call's schedule, settings and times.

    Attributes:
        schedule: the digest schedule.
        config: the digest's settings.
        at: the moment that names the period (a scheduled fire time, or now).
        now: the clock when the call began; a new run's window ends here.
    """

    schedule: ScheduleSettings
    config: DigestConfig
    at: datetime
    now: datetime


def digest_request(
    config: DigestConfig, clock: Clock, schedule: str | None, at: datetime | None
) -> DigestRequest:
    """Resolve ``schedule`` (default: the first digest schedule) and read the clock.

    Raises:
        UsageError: no digest schedule has that name.
    """
    chosen = resolve_schedule(config.schedules, schedule)
    now = clock()
    return DigestRequest(chosen, config, at or now, now)
