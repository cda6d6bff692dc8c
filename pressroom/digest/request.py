"""What every digest call starts from: the schedule, the digest's settings, the times.

A real send, a dry run, a test copy and a preview all begin the same way:
:func:`digest_request` resolves the schedule, takes the digest's part of the settings
(which fails early when links cannot be signed) and reads the clock once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pressroom.clock import Clock
from pressroom.config import ScheduleSettings, Settings
from pressroom.digest.config import DigestConfig, digest_config
from pressroom.digest.plan import resolve_schedule

__all__ = ["DigestRequest", "digest_request"]


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """One call's schedule, settings and times.

    Attributes:
        schedule: the digest schedule.
        config: the digest's settings.
        outbox: the file transport's folder (``[mail] outbox``, resolved).
        at: the moment that names the period (a scheduled fire time, or now).
        now: the clock when the call began; a new run's window ends here.
    """

    schedule: ScheduleSettings
    config: DigestConfig
    outbox: Path
    at: datetime
    now: datetime


def digest_request(
    settings: Settings, clock: Clock, schedule: str | None, at: datetime | None
) -> DigestRequest:
    """Resolve ``schedule`` (default: the first digest schedule) and read the clock.

    Raises:
        UsageError: no digest schedule has that name.
        ConfigError: ``[web] secret`` is missing (links cannot be signed).
    """
    chosen = resolve_schedule(settings.schedules, schedule)
    config = digest_config(settings)
    now = clock()
    outbox = settings.path(settings.mail.outbox)
    return DigestRequest(chosen, config, outbox, at or now, now)
