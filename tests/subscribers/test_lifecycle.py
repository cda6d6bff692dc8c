"""The consent rules of subscribers/lifecycle.py, on SQLite and PostgreSQL.

Operator changes go through the production path (:class:`OperatorRules`, what
``subscribers add`` and ``subscribers import`` run), one row at a time here.

Every status change leaves a consent event; suppressed people come back only through
their own confirmation (or an operator's explicit ``resubscribe``); a confirm link works
only for the request it was made for.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection
from storekit import add_subscriber
from support import NOW

from pressroom.models import ConsentSource, Frequency, Subscriber, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscribers import find_subscriber, list_subscribers, pending_nonce
from pressroom.subscribers import lifecycle, roster
from pressroom.subscribers.bulk_import import BatchOutcome, OperatorRules, Outcome
from pressroom.subscribers.csv_rows import SubscriberRow
from pressroom.subscribers.lifecycle import MailKind, SubscribeForm

ACTIVE, PENDING = SubscriberStatus.ACTIVE, SubscriberStatus.PENDING
UNSUBSCRIBED, BOUNCED = SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED
COMPLAINED = SubscriberStatus.COMPLAINED
SUPPRESSED = [UNSUBSCRIBED, BOUNCED, COMPLAINED]
LATER = NOW + timedelta(days=1)


def form(email: str = "reader@example.com", name: str = "读者") -> SubscribeForm:
    return SubscribeForm(email, name, ("keji",), Frequency.WEEKLY)


def seed(store: Store, email: str, status: SubscriberStatus) -> Subscriber:
    with store.write() as conn:
        return add_subscriber(conn, email, status=status, now=NOW)


def operator_row(
    conn: Connection,
    email: str,
    status: SubscriberStatus,
    now: datetime,
    source: ConsentSource,
    **changes: Any,
) -> BatchOutcome:
    """One operator row (no name, no sections, daily unless told) through OperatorRules."""
    fields: dict[str, Any] = {"name": "", "sections": (), "frequency": Frequency.DAILY} | changes
    fields["sections"] = list(fields["sections"])
    row = SubscriberRow(email=email, status=status, **fields)
    return OperatorRules(source, now, UTC).apply(conn, [(1, row)])


def operator_import(
    conn: Connection, email: str, status: SubscriberStatus, now: datetime, **changes: Any
) -> BatchOutcome:
    """A row of ``subscribers import`` giving ``status``."""
    return operator_row(conn, email, status, now, ConsentSource.CSV, **changes)


def operator_add(conn: Connection, email: str, now: datetime, **changes: Any) -> BatchOutcome:
    """``subscribers add``: the address becomes active."""
    return operator_row(conn, email, ACTIVE, now, ConsentSource.CLI, **changes)


def outcome(done: BatchOutcome) -> str:
    """What the batch's one row did (:class:`Outcome`)."""
    return done.outcomes[0][1]


def notice(done: BatchOutcome) -> str:
    """The line the operator is shown for the row (empty: none)."""
    return done.notices[0][1] if done.notices else ""


def now_status(conn: Connection, email: str) -> SubscriberStatus:
    found = find_subscriber(conn, email)
    assert found is not None
    return found.status


def history(store: Store, email: str) -> list[tuple[object, ...]]:
    with store.read() as conn:
        found = lifecycle.subscriber_history(conn, email)
    assert found is not None
    return [(e.from_status, e.to_status, e.source, e.ip, e.note) for e in found[1]]


def test_web_subscribe_then_confirm_records_both_with_the_ip(store: Store) -> None:
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form(), NOW, ip="192.0.2.7")
    assert asked.mail is MailKind.CONFIRM and asked.subscriber.status is PENDING
    assert asked.nonce is not None
    with store.write() as conn:
        done = lifecycle.confirm(conn, asked.subscriber.public_key, asked.nonce, LATER, ip="::1")
    assert done is not None and done.status is ACTIVE
    assert history(store, "reader@example.com") == [
        (None, PENDING, ConsentSource.WEB, "192.0.2.7", ""),
        (PENDING, ACTIVE, ConsentSource.WEB, "::1", "confirmed by the subscriber"),
    ]
    with store.read() as conn:
        assert pending_nonce(conn, done.id) is None  # confirming closes the request


def test_a_pending_request_belongs_to_its_owner(store: Store) -> None:
    with store.write() as conn:
        first = lifecycle.request_subscription(conn, form(), NOW)
        hijack = SubscribeForm("READER@example.com", "攻击者的文字", ("tiyu",), Frequency.DAILY)
        second = lifecycle.request_subscription(conn, hijack, NOW)  # anyone can submit it
    key = first.subscriber.public_key
    assert first.nonce and second.nonce == first.nonce  # the owner's link still works
    assert second.mail is MailKind.CONFIRM and second.send  # the same link, re-sent
    with store.write() as conn:
        assert lifecycle.confirm(conn, key, "not-the-nonce", LATER) is None
        assert now_status(conn, "reader@example.com") is PENDING
        confirmed = lifecycle.confirm(conn, key, first.nonce, LATER)
        assert confirmed is not None
        assert (confirmed.name, confirmed.sections, confirmed.frequency) == (
            "读者", ("keji",), Frequency.WEEKLY,
        )  # fmt: skip
        assert lifecycle.confirm(conn, key, first.nonce, LATER) is None  # used up


@pytest.mark.parametrize("held", [UNSUBSCRIBED, BOUNCED])
def test_a_request_on_a_known_address_applies_its_choices_only_when_confirmed(
    store: Store, held: SubscriberStatus
) -> None:
    before = seed(store, "gone@example.com", held)
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form("gone@example.com", "新名字"), LATER)
        again = lifecycle.request_subscription(
            conn, SubscribeForm("gone@example.com", "别人", (), Frequency.DAILY), LATER
        )
        assert asked.nonce and again.nonce == asked.nonce
        unchanged = find_subscriber(conn, "gone@example.com")
        assert unchanged is not None
        assert (unchanged.name, unchanged.sections, unchanged.frequency) == (
            before.name, before.sections, before.frequency,
        )  # fmt: skip
        confirmed = lifecycle.confirm(conn, before.public_key, asked.nonce, LATER)
    assert confirmed is not None and confirmed.status is ACTIVE
    assert (confirmed.name, confirmed.sections, confirmed.frequency) == (
        "新名字", ("keji",), Frequency.WEEKLY,
    )  # fmt: skip


def test_a_complained_address_gets_no_mail_and_a_bounced_one_one_a_day(store: Store) -> None:
    seed(store, "angry@example.com", COMPLAINED)
    seed(store, "gone@example.com", BOUNCED)
    seed(store, "left@example.com", UNSUBSCRIBED)
    sent: dict[str, list[bool]] = {"angry": [], "gone": [], "left": []}
    for when in (LATER, LATER + timedelta(hours=1), LATER + timedelta(days=1, minutes=1)):
        for name in sent:
            with store.write() as conn:
                asked = lifecycle.request_subscription(conn, form(f"{name}@example.com"), when)
            sent[name].append(asked.send)
    assert sent == {
        "angry": [False, False, False],
        "gone": [True, False, True],
        "left": [True, True, True],  # the per-address hourly limit bounds these
    }
    assert now_status_of(store, "angry@example.com") is COMPLAINED


@pytest.mark.parametrize("later", ["unsubscribe", "operator", "bounce"])
def test_any_later_change_voids_an_open_confirm_link(store: Store, later: str) -> None:
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form(), NOW)
    subscriber, nonce = asked.subscriber, asked.nonce
    assert nonce is not None
    with store.write() as conn:
        if later == "unsubscribe":
            lifecycle.unsubscribe(conn, subscriber.id, LATER)
        elif later == "operator":
            operator_import(conn, subscriber.email, PENDING, LATER)
        else:
            lifecycle.count_send_bounce(conn, subscriber.id, LATER, bounce_after=1)
        assert lifecycle.confirm(conn, subscriber.public_key, nonce, LATER) is None
        assert now_status(conn, subscriber.email) is not ACTIVE


def test_unsubscribe_then_resubscribe_then_the_old_link(store: Store) -> None:
    """The issue's case: unsubscribe, someone submits the address, the OLD link is used."""
    with store.write() as conn:
        first = lifecycle.request_subscription(conn, form(), NOW)
        assert first.nonce is not None
        done = lifecycle.confirm(conn, first.subscriber.public_key, first.nonce, NOW)
        assert done is not None
        lifecycle.unsubscribe(conn, done.id, NOW, source=ConsentSource.ONE_CLICK, ip="192.0.2.1")
        again = lifecycle.request_subscription(conn, form("READER@example.com"), LATER)
        assert again.mail is MailKind.CONFIRM and again.subscriber.id == done.id
        assert lifecycle.confirm(conn, done.public_key, first.nonce, LATER) is None
        assert now_status(conn, "reader@example.com") is UNSUBSCRIBED  # no revival
        assert again.nonce is not None
        assert lifecycle.confirm(conn, done.public_key, again.nonce, LATER) is not None
    assert [row[:3] for row in history(store, "reader@example.com")] == [
        (None, PENDING, ConsentSource.WEB),
        (PENDING, ACTIVE, ConsentSource.WEB),
        (ACTIVE, UNSUBSCRIBED, ConsentSource.ONE_CLICK),
        (UNSUBSCRIBED, ACTIVE, ConsentSource.WEB),
    ]


@pytest.mark.parametrize("held", SUPPRESSED)
def test_web_request_on_a_suppressed_address_keeps_it_suppressed(
    store: Store, held: SubscriberStatus
) -> None:
    seed(store, "gone@example.com", held)
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form("gone@example.com"), LATER)
        assert asked.mail is MailKind.CONFIRM
        assert (asked.nonce is not None) is (held is not COMPLAINED)
        assert now_status(conn, "gone@example.com") is held
        # An operator's re-import meanwhile cannot turn the request into consent.
        result = operator_import(conn, "gone@example.com", ACTIVE, LATER)
        assert outcome(result) == Outcome.KEPT and now_status(conn, "gone@example.com") is held


def test_web_request_on_an_active_address_changes_nothing(store: Store) -> None:
    before = seed(store, "on@example.com", ACTIVE)
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form("ON@example.com", "改名"), LATER)
    assert asked.mail is MailKind.NOTICE and asked.nonce is None
    assert asked.subscriber == before
    with store.read() as conn:
        assert find_subscriber(conn, "on@example.com") == before
    assert history(store, "on@example.com") == []


@pytest.mark.parametrize("held", SUPPRESSED)
def test_operator_add_leaves_a_suppressed_address_and_says_so(
    store: Store, held: SubscriberStatus
) -> None:
    before = seed(store, "x@y.org", held)
    with store.write() as conn:
        result = operator_add(
            conn, "X@y.org", LATER, name="新", sections=("keji",), frequency=Frequency.WEEKLY
        )
        assert outcome(result) == Outcome.KEPT
        after = find_subscriber(conn, "x@y.org")
        assert after is not None and after.status is held and after.name == ""
        assert after == before
    assert notice(result) == f"x@y.org {held} on {NOW:%Y-%m-%d}; left as it is"


def test_the_note_dates_the_suppression_from_the_consent_history(store: Store) -> None:
    seed(store, "x@y.org", ACTIVE)
    when = NOW + timedelta(days=1, hours=3)
    with store.write() as conn:
        lifecycle.unsubscribe_address(conn, "x@y.org", when)
        result = operator_add(conn, "x@y.org", when + timedelta(days=5))
    assert notice(result) == "x@y.org unsubscribed on 2026-11-29; left as it is"


def test_operator_resubscribe_is_explicit_logged_and_recorded(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seed(store, "x@y.org", COMPLAINED)
    with caplog.at_level(logging.WARNING, logger="pressroom.subscribers"):
        result = roster.add_subscriber(
            store, "x@y.org", name="", sections="", frequency="daily", now=LATER, resubscribe=True
        )
    assert result.outcome != Outcome.KEPT and result.subscriber.status is ACTIVE
    assert history(store, "x@y.org") == [
        (COMPLAINED, ACTIVE, ConsentSource.CLI, None, lifecycle.RESUBSCRIBE_NOTE)
    ]
    assert "x@y.org" in caplog.text and "--resubscribe" in caplog.text


def test_operator_new_and_existing_addresses(store: Store) -> None:
    with store.write() as conn:
        added = operator_add(conn, "new@y.org", NOW)
        imported = operator_import(conn, "pend@y.org", PENDING, NOW)
        promoted = operator_import(conn, "PEND@y.org", ACTIVE, LATER)
        same = operator_import(
            conn, "pend@y.org", ACTIVE, LATER, name="n", frequency=Frequency.WEEKLY
        )
        new, pend = find_subscriber(conn, "new@y.org"), find_subscriber(conn, "pend@y.org")
    assert outcome(added) == Outcome.ADDED and new is not None and new.status is ACTIVE
    assert outcome(imported) == Outcome.ADDED
    assert outcome(promoted) == Outcome.UPDATED and outcome(same) == Outcome.UPDATED
    assert pend is not None and pend.status is ACTIVE and pend.email == "pend@y.org"
    assert imported.ids == promoted.ids == same.ids == {"pend@y.org": pend.id}
    assert pend.frequency is Frequency.WEEKLY and pend.name == "n"
    assert history(store, "new@y.org") == [(None, ACTIVE, ConsentSource.CLI, None, "")]
    assert [row[:3] for row in history(store, "pend@y.org")] == [
        (None, PENDING, ConsentSource.CSV),
        (PENDING, ACTIVE, ConsentSource.CSV),
    ]


def test_unsubscribe_keeps_stricter_statuses_and_is_idempotent(store: Store) -> None:
    bounced = seed(store, "b@y.org", BOUNCED)
    active = seed(store, "a@y.org", ACTIVE)
    with store.write() as conn:
        assert lifecycle.unsubscribe(conn, bounced.id, LATER) == bounced
        lifecycle.unsubscribe(conn, active.id, LATER, ip="192.0.2.9")
        lifecycle.unsubscribe(conn, active.id, LATER)
        assert lifecycle.unsubscribe_address(conn, "nobody@y.org", LATER) is None
    assert history(store, "b@y.org") == []
    assert history(store, "a@y.org") == [(ACTIVE, UNSUBSCRIBED, ConsentSource.WEB, "192.0.2.9", "")]


def test_a_send_time_bounce_is_a_consent_event(store: Store) -> None:
    active = seed(store, "a@y.org", ACTIVE)
    gone = seed(store, "u@y.org", UNSUBSCRIBED)
    with store.write() as conn:
        lifecycle.count_send_bounce(conn, active.id, LATER, bounce_after=2)
        assert now_status(conn, "a@y.org") is ACTIVE
        lifecycle.count_send_bounce(conn, active.id, LATER, bounce_after=2)
        lifecycle.count_send_bounce(conn, active.id, LATER, bounce_after=2)  # nothing more
        lifecycle.count_send_bounce(conn, gone.id, LATER, bounce_after=1)
        assert now_status(conn, "u@y.org") is UNSUBSCRIBED
    assert [row[:3] for row in history(store, "a@y.org")] == [
        (ACTIVE, BOUNCED, ConsentSource.BOUNCE)
    ]
    assert history(store, "u@y.org") == []


def test_once_suppressed_only_a_complaint_changes_the_status(store: Store) -> None:
    """One rule for both bounce paths: the mailbox's and the sender's (issue 18)."""
    gone = seed(store, "u@y.org", UNSUBSCRIBED)
    with store.write() as conn:
        after = lifecycle.suppress(
            conn, gone.id, BOUNCED, source=ConsentSource.BOUNCE, now=LATER, note="hard bounce"
        )
        assert after == gone
        lifecycle.suppress(conn, gone.id, COMPLAINED, source=ConsentSource.COMPLAINT, now=LATER)
        assert now_status(conn, "u@y.org") is COMPLAINED
        lifecycle.unsubscribe(conn, gone.id, LATER)
        lifecycle.count_send_bounce(conn, gone.id, LATER, bounce_after=1)
        assert now_status(conn, "u@y.org") is COMPLAINED
    assert history(store, "u@y.org") == [
        (UNSUBSCRIBED, COMPLAINED, ConsentSource.COMPLAINT, None, "")
    ]


def test_subscriber_history_by_any_casing_and_unknown(store: Store) -> None:
    seed(store, "Reader@y.org", ACTIVE)
    with store.read() as conn:
        found = lifecycle.subscriber_history(conn, "READER@y.org")
        assert found is not None and found[0].email == "Reader@y.org"
        assert lifecycle.subscriber_history(conn, "nobody@y.org") is None


def test_a_mailbox_added_by_a_concurrent_request_is_taken_as_existing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests for one new address at once: the second's insert meets the first's row
    (ON CONFLICT DO NOTHING) and goes on as for an existing address, without an error."""
    seed(store, "race@example.com", PENDING)
    real = lifecycle.find_subscriber
    calls: list[str] = []

    def missed_once(conn: Connection, email: str) -> Subscriber | None:
        calls.append(email)
        return None if len(calls) == 1 else real(conn, email)  # the look before the insert

    monkeypatch.setattr(lifecycle, "find_subscriber", missed_once)
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form("Race@example.com"), LATER)
        assert asked.mail is MailKind.CONFIRM and asked.subscriber.email == "race@example.com"
    with store.read() as conn:
        assert [s.email for s in list_subscribers(conn)] == ["race@example.com"]


def test_many_requests_for_one_new_mailbox_at_once(store: Store) -> None:
    """Real threads, real transactions: one row, one ``None -> pending`` event, no error."""
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            barrier.wait(timeout=10)
            with store.write() as conn:
                lifecycle.request_subscription(conn, form("Crowd@example.com"), NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert [row[:2] for row in history(store, "crowd@example.com")] == [(None, PENDING)]


def test_one_link_confirmed_many_times_at_once_is_one_confirmation(store: Store) -> None:
    with store.write() as conn:
        asked = lifecycle.request_subscription(conn, form("twice@example.com"), NOW)
    key, nonce = asked.subscriber.public_key, asked.nonce
    assert nonce is not None
    barrier = threading.Barrier(6)
    results: list[Subscriber | None] = []

    def click() -> None:
        barrier.wait(timeout=10)
        with store.write() as conn:
            results.append(lifecycle.confirm(conn, key, nonce, LATER))

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6 and sum(r is not None for r in results) == 1
    assert [row[:2] for row in history(store, "twice@example.com")] == [
        (None, PENDING),
        (PENDING, ACTIVE),
    ]


def now_status_of(store: Store, email: str) -> SubscriberStatus:
    with store.read() as conn:
        return now_status(conn, email)
