"""The operator's subscriber commands (add, remove, CSV import and export) follow the
lifecycle's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from support import NOW

from pressroom.errors import UsageError
from pressroom.models import Frequency, Section, SubscriberStatus
from pressroom.store.articles import sync_sections
from pressroom.store.engine import Store
from pressroom.store.subscribers import find_subscriber
from pressroom.subscribers import roster
from pressroom.subscribers.lifecycle import count_send_bounce

SECTIONS = [Section("shizheng", "时政"), Section("keji", "科技")]
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def site(store: Store) -> Store:
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
    return store


def status_of(store: Store, email: str) -> SubscriberStatus | None:
    with store.read() as conn:
        found = find_subscriber(conn, email)
    return None if found is None else found.status


def test_add_makes_an_active_subscriber_and_updates_a_known_one(site: Store) -> None:
    done = roster.add_subscriber(
        site, " reader@Example.COM ", name=" 读者  一 ", sections="时政,keji",
        frequency="weekly", now=NOW,
    )  # fmt: skip
    saved = done.subscriber
    assert done.outcome == "added"
    assert saved.email == "reader@example.com" and saved.name == "读者 一"
    assert saved.status is SubscriberStatus.ACTIVE and saved.frequency is Frequency.WEEKLY
    assert saved.sections == ("shizheng", "keji")
    again = roster.add_subscriber(
        site, "reader@example.com", name="", sections="", frequency="daily", now=LATER
    )
    assert again.outcome == "updated"
    assert again.subscriber.id == saved.id and again.subscriber.sections == ()


def test_add_leaves_an_unsubscribed_address_unless_told_to_resubscribe(site: Store) -> None:
    roster.add_subscriber(site, "a@example.com", name="", sections="", frequency="daily", now=NOW)
    roster.remove_subscriber(site, "a@example.com", NOW)
    assert status_of(site, "a@example.com") is SubscriberStatus.UNSUBSCRIBED
    kept = roster.add_subscriber(
        site, "A@example.com", name="", sections="", frequency="daily", now=LATER
    )
    assert kept.outcome == "kept"
    assert kept.notice == "a@example.com unsubscribed on 2026-11-28; left as it is"
    assert status_of(site, "a@example.com") is SubscriberStatus.UNSUBSCRIBED
    again = roster.add_subscriber(
        site, "a@example.com", name="", sections="", frequency="daily", now=LATER,
        resubscribe=True,
    )  # fmt: skip
    assert again.outcome == "updated" and not again.notice
    assert status_of(site, "a@example.com") is SubscriberStatus.ACTIVE


def test_add_refuses_bad_input(site: Store) -> None:
    with pytest.raises(UsageError, match="unknown section"):
        roster.add_subscriber(site, "a@example.com", name="", sections="体育",
                              frequency="daily", now=NOW)  # fmt: skip
    with pytest.raises(UsageError):
        roster.add_subscriber(site, "nobody", name="", sections="", frequency="daily", now=NOW)


def test_remove_unsubscribes_and_keeps_a_bounced_address_bounced(site: Store) -> None:
    for email in ("a@example.com", "b@example.com"):
        roster.add_subscriber(site, email, name="", sections="", frequency="daily", now=NOW)
    assert roster.remove_subscriber(site, "a@EXAMPLE.com", LATER).email == "a@example.com"
    assert status_of(site, "a@example.com") is SubscriberStatus.UNSUBSCRIBED
    with site.write() as conn:
        found = find_subscriber(conn, "b@example.com")
        assert found is not None
        count_send_bounce(conn, found.id, NOW, bounce_after=1)
    roster.remove_subscriber(site, "b@example.com", LATER)
    assert status_of(site, "b@example.com") is SubscriberStatus.BOUNCED
    with pytest.raises(UsageError, match="is not a subscriber"):
        roster.remove_subscriber(site, "c@example.com", LATER)


def test_csv_import_keeps_good_rows_reports_bad_ones_and_round_trips(site: Store) -> None:
    roster.add_subscriber(site, "known@example.com", name="", sections="", frequency="daily",
                          now=NOW)  # fmt: skip
    text = (
        "Email,name,sections,frequency,status\n"
        "known@example.com,老读者,时政,weekly,active\n"
        "new@example.com,新读者,keji;时政,,\n"
        "gone@example.com,,,,unsubscribed\n"
        "not-an-address,,,,\n"
        "x@example.com,,体育,,\n"
        "y@example.com,,,monthly,\n"
    )
    lines: list[str] = []
    report = roster.import_subscribers(site, io.BytesIO(text.encode()), LATER, lines.append)
    assert (report.rows, report.added, report.updated, report.bad) == (6, 2, 1, 3)
    assert [line.split(":")[0] for line in lines] == ["line 5", "line 6", "line 7"]
    assert status_of(site, "gone@example.com") is SubscriberStatus.UNSUBSCRIBED
    assert roster.listing(site, "active") == [
        "known@example.com\t老读者\tactive\tweekly\tshizheng",
        "new@example.com\t新读者\tactive\tdaily\tkeji,shizheng",
    ]
    out = io.StringIO()
    assert roster.export_subscribers(site, out) == 3
    assert out.getvalue().splitlines()[0] == "email,name,sections,frequency,status"
    assert "gone@example.com,,,daily,unsubscribed" in out.getvalue().splitlines()


def test_csv_without_an_email_header_is_refused(site: Store) -> None:
    with pytest.raises(UsageError, match="'email' column"):
        roster.import_subscribers(site, io.BytesIO(b"name\nx\n"), NOW, print)
