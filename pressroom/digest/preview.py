"""Looking at a digest without recording anything: previews and one-off test copies."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from pressroom.clock import Clock
from pressroom.delivery.single import send_one
from pressroom.digest.compose import make_composer
from pressroom.digest.config import DigestConfig
from pressroom.digest.plan import Plan, plan_new_run
from pressroom.digest.report import DigestReport
from pressroom.digest.request import DigestRequest, digest_request
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
    # A well-formed key that no subscriber holds: the copy's links lead to "no such
    # subscription" pages.
    return Subscriber(0, email, "", SubscriberStatus.ACTIVE, frequency, public_key="A" * 16)


def _who(store: Store, email: str | None, frequency: Frequency) -> Subscriber:
    """The subscriber ``email`` (normalised), or a stand-in getting every section."""
    if email is None:
        return _stand_in("preview@example.com", frequency)
    try:
        address = normalise_email(email, smtputf8=True)  # finding one: any stored address
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from exc
    with store.read() as conn:
        found = find_subscriber(conn, address)
    return found or _stand_in(address, frequency)


def _plan(store: Store, request: DigestRequest) -> Plan:
    with store.read() as conn:
        return plan_new_run(conn, request.config, request.schedule, request.at, request.now)


def preview_digest(
    config: DigestConfig,
    store: Store,
    clock: Clock,
    *,
    schedule: str | None = None,
    subscriber: str | None = None,
) -> Preview:
    """Render the current period's digest as ``subscriber`` (an address) would get it.

    Without ``subscriber``, a stand-in who chose every section. Records nothing.

    Raises:
        UsageError: unknown schedule or a malformed address.
    """
    request = digest_request(config, clock, schedule, None)
    plan = _plan(store, request)
    who = _who(store, subscriber, plan.frequency)
    composer = make_composer(request.config, plan, "preview", request.now)
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
    config: DigestConfig,
    store: Store,
    clock: Clock,
    *,
    to: str,
    schedule: str | None = None,
    at: datetime | None = None,
) -> DigestReport:
    """Send the digest of ``schedule`` for the period of ``at`` once to ``to``, outside the
    ledger; record nothing.

    ``to`` gets what they would get as a subscriber (their sections), or every section.

    Raises:
        UsageError: unknown schedule, or ``to`` is not a valid address.
        JobFailed: there is nothing to send (no important article in the window).
        DeliveryError: the transport refused the message.
    """
    request = digest_request(config, clock, schedule, at)
    plan = _plan(store, request)
    who = _who(store, to, plan.frequency)
    composer = make_composer(request.config, plan, f"test-{secrets.token_hex(4)}", request.now)
    content = composer.content_for(who)
    if not content:
        raise JobFailed(
            f"digest {plan.key}: no important article for {who.email} since "
            f"{plan.window_start:%Y-%m-%d %H:%M} UTC, so no test copy was sent"
        )
    await send_one(config.mail, config.outbox, composer(who))
    return DigestReport(plan.schedule.name, plan.period, articles=content.count, test_to=who.email)
