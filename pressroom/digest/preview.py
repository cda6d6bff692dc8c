"""Looking at a digest without recording anything: previews and one-off test copies."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from pressroom.clock import Clock
from pressroom.config import ScheduleSettings, Settings
from pressroom.digest.compose import Composer, require_secret
from pressroom.digest.plan import Plan, plan_new_run, resolve_schedule
from pressroom.digest.service import DigestReport, make_composer
from pressroom.errors import JobFailed, UsageError
from pressroom.models import Frequency, Subscriber, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscribers import find_subscriber
from pressroom.subscribers.addresses import InvalidAddress, normalise_email

__all__ = ["Preview", "preview_digest", "send_test_copy"]


@dataclass(frozen=True, slots=True)
class Preview:
    """A rendered digest as one subscriber would get it (empty when nothing is new)."""

    key: str
    subject: str
    html: str
    text: str
    articles: int
    recipient: str
    window_start: datetime
    window_end: datetime

    def __bool__(self) -> bool:
        return self.articles > 0


def _stand_in(email: str, frequency: Frequency) -> Subscriber:
    return Subscriber(0, email, "", SubscriberStatus.ACTIVE, frequency)


def _who(store: Store, email: str | None, frequency: Frequency) -> Subscriber:
    """The subscriber ``email`` (normalised), or a stand-in getting every section."""
    if email is None:
        return _stand_in("preview@example.com", frequency)
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from exc
    with store.read() as conn:
        found = find_subscriber(conn, address)
    return found or _stand_in(address, frequency)


def _plan(settings: Settings, store: Store, schedule: ScheduleSettings, at: datetime,
          now: datetime) -> Plan:  # fmt: skip
    with store.read() as conn:
        return plan_new_run(conn, settings, schedule, at, now)


def preview_digest(
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    schedule: str | None = None,
    subscriber: str | None = None,
) -> Preview:
    """Render the current period's digest as ``subscriber`` (an address) would get it.

    Without ``subscriber``, a stand-in who chose every section. Records nothing.

    Raises:
        ConfigError: ``[web] secret`` is missing.
        UsageError: unknown schedule or a malformed address.
    """
    chosen = resolve_schedule(settings, schedule)
    require_secret(settings)
    now = clock()
    plan = _plan(settings, store, chosen, now, now)
    who = _who(store, subscriber, plan.frequency)
    composer: Composer = make_composer(settings, plan, "preview", now)
    content = composer.content_for(who)
    view = composer.personal_view(who) if content else None
    return Preview(
        key=plan.key,
        subject=view.subject if view else "",
        html=view.html if view else "",
        text=view.text if view else "",
        articles=content.count,
        recipient=who.email,
        window_start=plan.window_start,
        window_end=plan.window_end,
    )


async def send_test_copy(
    settings: Settings,
    store: Store,
    schedule: ScheduleSettings,
    at: datetime,
    now: datetime,
    to: str,
) -> DigestReport:
    """Send the period's digest once to ``to``, outside the ledger; record nothing.

    Raises:
        UsageError: ``to`` is not a valid address.
        JobFailed: there is nothing to send (no important article in the window).
        DeliveryError: the transport refused the message.
    """
    from pressroom.delivery.single import send_one

    plan = _plan(settings, store, schedule, at, now)
    who = _who(store, to, plan.frequency)
    composer = make_composer(settings, plan, f"test-{secrets.token_hex(4)}", now)
    content = composer.content_for(who)
    if not content:
        raise JobFailed(
            f"digest {plan.key}: no important article for {who.email} since "
            f"{plan.window_start:%Y-%m-%d %H:%M} UTC, so no test copy was sent"
        )
    await send_one(settings, composer(who))
    return DigestReport(schedule.name, plan.period, articles=content.count, test_to=who.email)
