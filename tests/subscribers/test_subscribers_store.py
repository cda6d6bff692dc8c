"""The subscriber store contract, on SQLite and PostgreSQL; address normalisation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storekit import add_subscriber, count_by_status
from support import NOW

from pressroom.models import Frequency, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscriber_writes import (
    count_bounce,
    save_subscriber,
    set_preferences,
    set_status,
)
from pressroom.store.subscribers import (
    active_by_sections,
    active_subscribers,
    find_subscriber,
    get_subscriber,
    list_subscribers,
)
from pressroom.subscribers.addresses import InvalidAddress, normalise_email
from pressroom.subscribers.lifecycle import count_send_bounce

ACTIVE = SubscriberStatus.ACTIVE
DAILY = Frequency.DAILY


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Foo@Example.COM", "Foo@example.com"),
        ("  a@例子.中国 ", "a@xn--fsqu00a.xn--fiqs8s"),
        ("x@BÜCHER.de", "x@xn--bcher-kva.de"),
    ],
)
def test_normalise_email_lowercases_and_idna_encodes_the_domain(typed: str, expected: str) -> None:
    assert normalise_email(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("no-at-sign", "@-sign"),
        ("a@b", "period"),
        ("a\r\nBcc: x@y.com", "invalid characters"),
    ],
)
def test_normalise_email_rejects_bad_addresses_with_a_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        normalise_email(typed)


def test_save_inserts_then_upserts_by_address(store: Store) -> None:
    with store.write() as conn:
        first = save_subscriber(
            conn,
            email="a@example.com",
            name="甲",
            sections=["china", "world", "china"],
            frequency=DAILY,
            status=SubscriberStatus.PENDING,
            now=NOW,
        )
    later = NOW + timedelta(hours=1)
    with store.write() as conn:
        second = save_subscriber(
            conn,
            email="a@example.com",
            name="乙",
            sections=[],
            frequency=Frequency.WEEKLY,
            status=ACTIVE,
            now=later,
        )
    assert first.sections == ("china", "world")
    assert second.id == first.id
    assert (second.name, second.sections, second.frequency) == ("乙", (), Frequency.WEEKLY)
    assert second.created_at == NOW and second.updated_at == later
    with store.read() as conn:
        assert find_subscriber(conn, "a@example.com") == second
        assert get_subscriber(conn, first.id) == second
        assert get_subscriber(conn, first.id + 100) is None
        assert find_subscriber(conn, "nobody@example.com") is None


def test_active_subscribers_filters_status_and_frequency(store: Store) -> None:
    with store.write() as conn:
        for email, status, frequency in [
            ("a@x.com", ACTIVE, DAILY),
            ("b@x.com", ACTIVE, Frequency.WEEKLY),
            ("c@x.com", SubscriberStatus.PENDING, DAILY),
            ("d@x.com", SubscriberStatus.UNSUBSCRIBED, DAILY),
            ("e@x.com", ACTIVE, DAILY),
        ]:
            add_subscriber(conn, email, frequency=frequency, status=status)
    with store.read() as conn:
        assert [s.email for s in active_subscribers(conn, DAILY)] == ["a@x.com", "e@x.com"]
        assert [s.email for s in active_subscribers(conn, Frequency.WEEKLY)] == ["b@x.com"]
        assert count_by_status(conn) == {"active": 3, "pending": 1, "unsubscribed": 1}
        assert [s.email for s in list_subscribers(conn, SubscriberStatus.PENDING)] == ["c@x.com"]


def test_status_and_preferences_change_in_place(store: Store) -> None:
    with store.write() as conn:
        sub = add_subscriber(conn, "a@x.com", status=SubscriberStatus.PENDING)
        set_status(conn, sub.id, SubscriberStatus.UNSUBSCRIBED, NOW)
        set_preferences(conn, sub.id, sections=["tech"], frequency=Frequency.WEEKLY, now=NOW)
    with store.read() as conn:
        now = get_subscriber(conn, sub.id)
    assert now is not None
    assert (now.status, now.sections, now.frequency) == (
        SubscriberStatus.UNSUBSCRIBED,
        ("tech",),
        Frequency.WEEKLY,
    )


def test_send_bounces_mark_bounced_at_the_threshold(store: Store) -> None:
    with store.write() as conn:
        sub = add_subscriber(conn, "a@x.com")
        count_send_bounce(conn, sub.id, NOW, bounce_after=2)
        after_one = get_subscriber(conn, sub.id)
        count_send_bounce(conn, sub.id, NOW, bounce_after=2)
        after_two = get_subscriber(conn, sub.id)
    assert after_one is not None and after_two is not None
    assert (after_one.bounces, after_one.status) == (1, ACTIVE)
    assert (after_two.bounces, after_two.status) == (2, SubscriberStatus.BOUNCED)
    with store.write() as conn:
        set_status(conn, sub.id, ACTIVE, NOW)
        reactivated = get_subscriber(conn, sub.id)
    assert reactivated is not None and reactivated.bounces == 0


def test_count_bounce_adds_one_and_says_where_the_count_stands(store: Store) -> None:
    with store.write() as conn:
        sub = add_subscriber(conn, "a@x.com", status=SubscriberStatus.UNSUBSCRIBED)
        assert count_bounce(conn, sub.id, NOW) == (SubscriberStatus.UNSUBSCRIBED, 1)
        assert count_bounce(conn, sub.id, NOW) == (SubscriberStatus.UNSUBSCRIBED, 2)
        assert count_bounce(conn, sub.id + 1, NOW) is None


def test_active_by_sections_groups_ids_by_choice(store: Store) -> None:
    with store.write() as conn:
        for email, sections, status in [
            ("a@x.com", ["news", "tech"], ACTIVE),
            ("b@x.com", [], ACTIVE),
            ("c@x.com", ["news", "tech"], ACTIVE),
            ("d@x.com", ["news", "tech"], SubscriberStatus.BOUNCED),
        ]:
            add_subscriber(conn, email, sections=sections, status=status)
    with store.read() as conn:
        groups = active_by_sections(conn, DAILY)
        ids = {s.email: s.id for s in list_subscribers(conn)}
    assert {k: sorted(v) for k, v in groups.items()} == {
        ("news", "tech"): sorted([ids["a@x.com"], ids["c@x.com"]]),
        (): [ids["b@x.com"]],
    }
