"""Migration 0003 on a store built at 0002: case-duplicate subscribers are merged into one
row per mailbox (the strictest status wins, deliveries move, a consent event says so), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from pressroom.models import ConsentSource, SubscriberStatus
from pressroom.store import migrate
from pressroom.store.consent import consent_history
from pressroom.store.engine import Store, open_store
from pressroom.store.migrate import SCHEMA_HEAD, current_revision
from pressroom.store.subscribers import find_by_public_key, find_subscriber, list_subscribers

WHEN = datetime(2026, 11, 1, tzinfo=UTC)

# (email, status); ids follow this order. Groups by mailbox:
#   reader: 1 active, 2 unsubscribed, 3 pending  -> unsubscribed, kept as row 1
#   shout:  4 bounced, 5 active                   -> bounced, row 4
#   spam:   6 pending, 7 complained               -> complained, row 6
#   alone:  8 active                              -> unchanged
ROWS = [
    ("reader@example.com", "active"),
    ("Reader@example.com", "unsubscribed"),
    ("READER@Example.com", "pending"),
    ("Shout@example.org", "bounced"),
    ("shout@example.org", "active"),
    ("spam@example.net", "pending"),
    ("SPAM@example.net", "complained"),
    ("alone@example.com", "active"),
]


def _alembic(conn: Connection, target: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    command.upgrade(config, target)


def _at_0002(store_url: str) -> Store:
    store = open_store(store_url, migrate=False)
    with store.write() as conn:
        _alembic(conn, "0002")
    with store.write() as conn:
        for email, status in ROWS:
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, name, status, sections, frequency, bounces,"
                    " created_at, updated_at) VALUES (:e, '', :s, '', 'daily', 0, :w, :w)"
                ),
                {"e": email, "s": status, "w": WHEN},
            )
        for period in ("p1", "p2"):
            conn.execute(
                text(
                    "INSERT INTO digests (schedule, period, frequency, window_start, window_end,"
                    " status, created_at) VALUES ('daily', :p, 'daily', :w, :w, 'open', :w)"
                ),
                {"p": period, "w": WHEN},
            )
        # Row 1 and row 2 both got digest 1 (one is dropped); row 3 alone got digest 2.
        for digest_id, subscriber_id in [(1, 1), (1, 2), (2, 3), (1, 5)]:
            conn.execute(
                text("INSERT INTO deliveries (digest_id, subscriber_id) VALUES (:d, :s)"),
                {"d": digest_id, "s": subscriber_id},
            )
    return store


def test_0003_merges_case_duplicates_keeping_the_strictest_status(store_url: str) -> None:
    old = _at_0002(store_url)
    with old.read() as conn:
        assert current_revision(conn) == "0002"
    old.dispose()

    store = open_store(store_url)  # migrates to the head
    with store.read() as conn:
        assert current_revision(conn) == SCHEMA_HEAD
        everyone = list_subscribers(conn)
        assert sorted((s.id, s.email, s.status.value) for s in everyone) == [
            (1, "reader@example.com", "unsubscribed"),
            (4, "Shout@example.org", "bounced"),
            (6, "spam@example.net", "complained"),
            (8, "alone@example.com", "active"),
        ]
        reader = find_subscriber(conn, "READER@example.com")
        assert reader is not None and reader.id == 1
        deliveries = conn.execute(
            text(
                "SELECT digest_id, subscriber_id FROM deliveries ORDER BY digest_id, subscriber_id"
            )
        ).all()
        assert [tuple(row) for row in deliveries] == [(1, 1), (1, 4), (2, 1)]
        history = consent_history(conn, 1)
        assert len(history) == 1
        event = history[0]
        assert (event.from_status, event.to_status) == (
            SubscriberStatus.ACTIVE,
            SubscriberStatus.UNSUBSCRIBED,
        )
        assert event.source is ConsentSource.MIGRATION
        assert "Reader@example.com" in event.note and "READER@Example.com" in event.note
        assert [e.to_status for e in consent_history(conn, 4)] == [SubscriberStatus.BOUNCED]
        assert consent_history(conn, 8) == []
        keys = {s.public_key for s in everyone}
        assert len(keys) == 4 and all(len(key) == 16 for key in keys)
        for subscriber in everyone:
            assert find_by_public_key(conn, subscriber.public_key) == subscriber
    with store.write() as conn:  # the mailbox key is unique from now on
        try:
            with conn.begin_nested():
                conn.execute(
                    text(
                        "INSERT INTO subscribers (email, email_key, public_key, name, status,"
                        " sections, frequency, bounces, created_at, updated_at) VALUES"
                        " ('ALONE@example.com', 'alone@example.com', 'x', '', 'active', '',"
                        " 'daily', 0, :w, :w)"
                    ),
                    {"w": WHEN},
                )
            raise AssertionError("a second row for one mailbox was accepted")
        except AssertionError:
            raise
        except Exception as exc:  # IntegrityError, whatever the driver calls it
            assert "unique" in str(exc).lower()
    store.dispose()
