"""`subscribers import` on hostile CSV and under the consent rules, on SQLite and PostgreSQL:
every bad line reported by number and the rest kept; suppressed people left as they are
unless --resubscribe; every change of status a consent event."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from support import NOW

from pressroom.errors import UsageError
from pressroom.models import ConsentSource, Section, SubscriberStatus
from pressroom.store.articles import sync_sections
from pressroom.store.consent import consent_history
from pressroom.store.engine import Store
from pressroom.store.subscribers import find_subscriber
from pressroom.subscribers import roster
from pressroom.subscribers.bulk_import import RESUBSCRIBE_NOTE
from pressroom.subscribers.lifecycle import suppress

SECTIONS = [Section("shizheng", "时政"), Section("keji", "科技")]
LATER = NOW + timedelta(days=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = b"email,name,sections,frequency,status\n"


@pytest.fixture
def site(store: Store) -> Store:
    with store.write() as conn:
        sync_sections(conn, SECTIONS)
    return store


def run(
    store: Store, data: bytes, *, now=LATER, resubscribe: bool = False, batch: int = 2000
) -> tuple[roster.SubscriberImport, list[str]]:
    lines: list[str] = []
    report = roster.import_subscribers(
        store, io.BytesIO(data), now, lines.append, zone=SHANGHAI, resubscribe=resubscribe,
        batch_size=batch,
    )  # fmt: skip
    return report, lines


def state(store: Store, email: str) -> tuple[SubscriberStatus, str] | None:
    with store.read() as conn:
        found = find_subscriber(conn, email)
    return None if found is None else (found.status, found.name)


def history(store: Store, email: str) -> list[tuple[str | None, str, str, str]]:
    with store.read() as conn:
        found = find_subscriber(conn, email)
        assert found is not None
        events = consent_history(conn, found.id)
    return [(e.from_status, e.to_status, e.source, e.note) for e in events]


def good(n: int) -> bytes:
    return f"reader{n}@example.com,读者{n},时政,daily,active\n".encode()


def stored_count(store: Store) -> int:
    return len(roster.listing(store, None))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param(
            b"x@example.com,A\xffB,,,\n", "not valid UTF-8 (byte 0xff at byte 16)", id="utf8"
        ),
        pytest.param(
            b"x@example.com," + b"n" * 140_000 + b",,,\n",
            "longer than 131,072",
            id="field>131072",
        ),
        pytest.param(
            b'x@example.com,"' + b"n" * 140_000 + b'",,,\n',
            "longer than 131,072",
            id="quoted-field>131072",
        ),
        pytest.param(b'x@example.com,"Unclosed name,,,\n', "unterminated quote", id="quote"),
        pytest.param(b"x@example.com,A\x00B,,,\n", "name contains a NUL character", id="nul-name"),
        pytest.param(b"x\x00@example.com,,,,\n", "not a valid", id="nul-email"),
        pytest.param(b"x@example.com,A\x07B,,,\n", "control character", id="bell"),
        pytest.param(
            b"x@example.com," + b"n" * 300 + b",,,\n", "name is longer than 200", id="name"
        ),
        pytest.param(b"x@example.com,,,hourly,\n", "frequency 'hourly'", id="frequency"),
        pytest.param(b"x@example.com,,,,gone\n", "status 'gone'", id="status"),
        pytest.param("x@example.com,,体育,,\n".encode(), "unknown section", id="section"),
        pytest.param(b"not-an-address,,,,\n", "not a valid e-mail address", id="address"),
    ],
)
def test_a_bad_line_is_reported_by_number_and_the_rest_kept(
    site: Store, bad: bytes, reason: str
) -> None:
    report, lines = run(site, HEADER + good(1) + good(2) + bad + good(4) + good(5))
    assert len(lines) == 1 and lines[0].startswith("line 4: "), lines
    assert reason in lines[0] and len(lines[0]) < 300
    assert (report.rows, report.added, report.bad) == (5, 4, 1)
    assert stored_count(site) == 4
    assert state(site, "reader4@example.com") == (SubscriberStatus.ACTIVE, "读者4")


def test_an_unterminated_quote_does_not_swallow_the_next_rows(site: Store) -> None:
    data = HEADER + b'a@example.com,"Ann\nb@example.com,Bob,,,\nc@example.com,"Cy",,,\n'
    report, lines = run(site, data)
    assert lines == ["line 2: a quoted field is not closed on this line (unterminated quote)"]
    assert state(site, "b@example.com") == (SubscriberStatus.ACTIVE, "Bob")
    assert state(site, "c@example.com") == (SubscriberStatus.ACTIVE, "Cy")
    assert state(site, "a@example.com") is None
    assert (report.rows, report.added, report.bad) == (3, 2, 1)


def test_a_bom_crlf_and_extra_columns_are_read(site: Store) -> None:
    data = b"\xef\xbb\xbfEmail , Name,Extra\r\nz@example.com,Zed,whatever\r\n\r\n"
    report, lines = run(site, data)
    assert lines == [] and report.added == 1
    assert state(site, "z@example.com") == (SubscriberStatus.ACTIVE, "Zed")


def test_same_mailbox_twice_is_reported_and_the_later_row_wins(site: Store) -> None:
    data = HEADER + b"Dup@example.com,First,,,\nother@example.com,,,,\ndup@example.com,Second,,,\n"
    for batch in (2000, 1):
        report, lines = run(site, data, batch=batch)
        assert "line 4: same address as line 2; the later row wins" in lines
        assert state(site, "dup@example.com") == (SubscriberStatus.ACTIVE, "Second")
        assert report.duplicates == 1
    with site.read() as conn:
        found = find_subscriber(conn, "DUP@example.com")
    assert found is not None and found.email == "Dup@example.com"  # as first written


def test_reimport_without_status_leaves_suppressed_people_as_they_are(site: Store) -> None:
    run(
        site,
        HEADER
        + b"u@example.com,U,,,\nb@example.com,B,,,\nc@example.com,C,,,\nk@example.com,K,,,\n",
        now=NOW,
    )
    with site.write() as conn:
        for email, status, source in (
            ("u@example.com", SubscriberStatus.UNSUBSCRIBED, ConsentSource.ONE_CLICK),
            ("b@example.com", SubscriberStatus.BOUNCED, ConsentSource.BOUNCE),
            ("c@example.com", SubscriberStatus.COMPLAINED, ConsentSource.COMPLAINT),
        ):
            found = find_subscriber(conn, email)
            assert found is not None
            suppress(conn, found.id, status, source=source, now=NOW + timedelta(hours=29))
    data = b"email,name\nU@example.com,New U\nb@example.com,B\nc@example.com,C\nk@example.com,K2\n"
    report, lines = run(site, data)
    # 2026-11-29 21:00 UTC is 2026-11-30 in Shanghai, the site's zone.
    assert lines == [
        "line 2: u@example.com unsubscribed on 2026-11-30; left as it is",
        "line 3: b@example.com bounced on 2026-11-30; left as it is",
        "line 4: c@example.com complained on 2026-11-30; left as it is",
    ]
    assert (report.kept, report.updated, report.bad) == (3, 1, 0)
    assert state(site, "u@example.com") == (SubscriberStatus.UNSUBSCRIBED, "U")
    assert state(site, "b@example.com") == (SubscriberStatus.BOUNCED, "B")
    assert state(site, "c@example.com") == (SubscriberStatus.COMPLAINED, "C")
    assert state(site, "k@example.com") == (SubscriberStatus.ACTIVE, "K2")
    assert history(site, "u@example.com") == [
        (None, "active", "csv", ""),
        ("active", "unsubscribed", "one-click", ""),
    ]


def test_resubscribe_applies_the_row_with_a_noted_event_and_a_warning(
    site: Store, caplog: pytest.LogCaptureFixture
) -> None:
    run(site, HEADER + b"u@example.com,U,,,unsubscribed\n", now=NOW)
    caplog.set_level(logging.WARNING, "pressroom.subscribers")
    report, lines = run(site, b"email\nu@example.com\n", resubscribe=True)
    assert lines == [] and report.updated == 1
    assert state(site, "u@example.com") == (SubscriberStatus.ACTIVE, "")
    assert history(site, "u@example.com") == [
        (None, "unsubscribed", "csv", ""),
        ("unsubscribed", "active", "csv", RESUBSCRIBE_NOTE),
    ]
    assert "u@example.com was unsubscribed; resubscribed by the operator" in caplog.text


def test_status_changes_of_pending_and_active_people_are_events(site: Store) -> None:
    run(site, HEADER + b"p@example.com,,,,pending\na@example.com,,,,\n", now=NOW)
    report, lines = run(site, HEADER + b"p@example.com,,,,active\na@example.com,,,,unsubscribed\n")
    assert lines == [] and report.updated == 2
    assert history(site, "p@example.com")[-1] == ("pending", "active", "csv", "")
    assert history(site, "a@example.com")[-1] == ("active", "unsubscribed", "csv", "")
    report, _ = run(site, HEADER + b"p@example.com,,,,active\n")
    assert report.unchanged == 1 and len(history(site, "p@example.com")) == 2


def test_rows_for_one_mailbox_apply_in_file_order_in_one_batch(site: Store) -> None:
    data = HEADER + b"m@example.com,,,,\nm@example.com,,,,unsubscribed\nm@example.com,,,,active\n"
    _, lines = run(site, data)
    assert "line 4: m@example.com unsubscribed on 2026-11-30; left as it is" in lines
    assert state(site, "m@example.com") == (SubscriberStatus.UNSUBSCRIBED, "")
    assert [e[:2] for e in history(site, "m@example.com")] == [
        (None, "active"),
        ("active", "unsubscribed"),
    ]


def test_export_neutralises_formulas_and_imports_back_unchanged(site: Store) -> None:
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "plain"]
    data = (
        HEADER
        + b"".join(
            f'r{n}@example.com,"{name.replace(chr(34), chr(34) * 2)}",,,\n'.encode()
            for n, name in enumerate(names)
        )
        + b"-dash@example.com,,,,\n"
    )
    run(site, data)
    out = io.StringIO()
    assert roster.export_subscribers(site, out) == 6
    text = out.getvalue()
    assert "'-dash@example.com" in text and "'=HYPERLINK" in text and ",'+1," in text
    assert ",'@SUM(A1)," in text and ",plain," in text
    for line in text.splitlines()[1:]:
        for cell in next(iter(csv.reader([line]))):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    report, lines = run(site, text.encode())
    assert lines == [] and report.unchanged == 6


def test_export_with_consent_adds_the_history_as_json(site: Store) -> None:
    run(site, HEADER + b"a@example.com,A,,,pending\n", now=NOW)
    run(site, HEADER + b"a@example.com,A,,,active\n")
    out = io.StringIO()
    roster.export_subscribers(site, out, with_consent=True)
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == [
        "email", "name", "sections", "frequency", "status",
        "created_at", "confirmed_at", "consent_history",
    ]  # fmt: skip
    assert row[5] == "2026-11-28T16:00:00Z" and row[6] == "2026-11-29T16:00:00Z"
    assert json.loads(row[7]) == [
        {"at": "2026-11-28T16:00:00Z", "from": None, "to": "pending", "source": "csv",
         "ip": None, "note": ""},
        {"at": "2026-11-29T16:00:00Z", "from": "pending", "to": "active", "source": "csv",
         "ip": None, "note": ""},
    ]  # fmt: skip


def test_show_prints_the_subscriber_and_its_history(site: Store) -> None:
    run(site, HEADER + b"a@example.com,Ann,keji,weekly,pending\n", now=NOW)
    run(site, HEADER + b"a@example.com,Ann,keji,weekly,active\n")
    lines = roster.show_subscriber(site, "A@Example.com", SHANGHAI)
    assert lines[:5] == [
        "email: a@example.com", "name: Ann", "status: active", "frequency: weekly",
        "sections: keji",
    ]  # fmt: skip
    assert lines[-2:] == [
        "  2026-11-29 00:00:00 +0800  (new) -> pending  by csv",
        "  2026-11-30 00:00:00 +0800  pending -> active  by csv",
    ]
    with pytest.raises(UsageError, match="is not a subscriber"):
        roster.show_subscriber(site, "b@example.com", SHANGHAI)


def test_many_rows_in_many_batches(site: Store) -> None:
    data = HEADER + b"".join(good(n) for n in range(1234)) + b"bad,,,,\n" + good(5)
    report, lines = run(site, data, batch=100)
    assert (report.rows, report.added, report.bad, report.duplicates) == (1236, 1234, 1, 1)
    assert [line.split(": ")[0] for line in lines] == ["line 1236", "line 1237"]
    assert lines[1] == "line 1237: same address as line 7; the later row wins"
    assert stored_count(site) == 1234


@pytest.mark.slow
def test_parsing_in_a_helper_process_gives_the_same_outcome(
    site: Store, tmp_path: pytest.TempPathFactory
) -> None:
    data = HEADER + b"".join(good(n) for n in range(50)) + b"bad,,,,\n" + good(3) + b'q@x.org,"a\n'
    outcomes = []
    for background in (False, True):
        lines: list[str] = []
        report = roster.import_subscribers(
            site, io.BytesIO(data), LATER, lines.append, batch_size=7, background=background
        )
        outcomes.append((report, lines))
    first, second = outcomes
    assert first[1] == second[1] and len(first[1]) == 3
    assert (first[0].added, second[0].added, second[0].unchanged) == (50, 0, 51)
    assert (first[0].bad, second[0].bad) == (2, 2)


def test_a_row_agreeing_with_a_suppressed_status_changes_nothing_and_says_nothing(
    site: Store,
) -> None:
    run(site, HEADER + b"u@example.com,Old,,,unsubscribed\n", now=NOW)
    report, lines = run(site, HEADER + b"u@example.com,New,keji,weekly,unsubscribed\n")
    assert lines == [] and (report.unchanged, report.kept, report.updated) == (1, 0, 0)
    assert state(site, "u@example.com") == (SubscriberStatus.UNSUBSCRIBED, "Old")
    assert len(history(site, "u@example.com")) == 1


def test_export_reads_in_pages_in_address_order(site: Store) -> None:
    from pressroom.store.subscriber_bulk import subscriber_pages

    run(site, HEADER + b"".join(good(n) for n in range(23)) + b"Reader5@example.org,,,,\n")
    with site.read() as conn:
        pages = list(subscriber_pages(conn, page=5))
        by_four = subscriber_pages(conn, SubscriberStatus.ACTIVE, page=4)
        active = [s.email for page in by_four for s in page]
    emails = [s.email for page in pages for s in page]
    assert [len(page) for page in pages] == [5, 5, 5, 5, 4]
    # The database's own order by address (its collation), as `subscribers list` shows it.
    assert emails == [line.split("\t")[0] for line in roster.listing(site, None)]
    assert len(set(emails)) == 24
    assert active == emails


def test_names_with_quotes_backslashes_and_copy_escapes_are_stored_as_given(site: Store) -> None:
    name = 'O\'Brien \\N \\t "Bob" 读者'
    escaped = name.replace('"', '""')
    run(site, HEADER + f'esc@example.com,"{escaped}",,,pending\n'.encode())
    assert state(site, "esc@example.com") == (SubscriberStatus.PENDING, name)
