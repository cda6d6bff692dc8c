"""The deliveries ledger contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from deliverykit import add_digest, add_subscribers
from deliverykit import delivery_rows as rows

from pressroom.models import DeliveryStatus, SubscriberStatus
from pressroom.store import deliveries as ledger
from pressroom.store.deliveries import Outcome
from pressroom.store.engine import Store
from pressroom.store.subscribers import get_subscriber
from pressroom.subscribers.lifecycle import send_bounce_rule

LEASE = timedelta(seconds=0.2)


def test_enqueue_adds_each_pair_once(store: Store) -> None:
    digest = add_digest(store)
    people = add_subscribers(store, 7)
    with store.write() as conn:
        assert ledger.enqueue(conn, digest, people[:5]) == 5
    with store.write() as conn:
        ledger.apply_outcomes(
            conn, [Outcome(1, people[0], DeliveryStatus.SENT)], on_bounce=send_bounce_rule(1)
        )
        assert ledger.enqueue(conn, digest, iter(people)) == 2
    with store.read() as conn:
        assert ledger.counts(conn, digest) == {
            "queued": 6, "sending": 0, "sent": 1, "failed": 0, "uncertain": 0, "skipped": 0,
        }  # fmt: skip
        assert ledger.unfinished(conn, digest) == 6
    assert rows(store, digest)[people[0]]["status"] == "sent"


def test_claims_are_exclusive_and_carry_the_subscriber(store: Store) -> None:
    digest = add_digest(store)
    people = add_subscribers(store, 10)
    with store.write() as conn:
        ledger.enqueue(conn, digest, people)
    with store.write() as conn:
        first = ledger.claim(conn, digest, "w1", 6)
    with store.write() as conn:
        second = ledger.claim(conn, digest, "w2", 6)
    with store.write() as conn:
        assert ledger.claim(conn, digest, "w3", 6) == []
    assert len(first) == 6 and len(second) == 4
    claimed = [s.id for _, s in first + second if s is not None]
    assert sorted(claimed) == people
    assert first[0][1] is not None and first[0][1].email == "user0@example.org"
    assert {r["claimed_by"] for r in rows(store, digest).values()} == {"w1", "w2"}
    assert {r["status"] for r in rows(store, digest).values()} == {"sending"}
    assert {r["attempts"] for r in rows(store, digest).values()} == {1}


def test_outcomes_record_attempts_errors_and_bounces(store: Store) -> None:
    digest = add_digest(store)
    people = add_subscribers(store, 3)
    with store.write() as conn:
        ledger.enqueue(conn, digest, people)
        ids = [d for d, _ in ledger.claim(conn, digest, "w1", 10)]
    outcomes = [
        Outcome(d, p, DeliveryStatus.SENDING, message_id=f"<m{p}@x>")
        for d, p in zip(ids, people, strict=True)
    ]
    outcomes += [
        Outcome(ids[0], people[0], DeliveryStatus.SENT),
        Outcome(ids[1], people[1], DeliveryStatus.FAILED, "RCPT: 550 no such user", bounce=True),
        Outcome(ids[2], people[2], DeliveryStatus.UNCERTAIN, "dropped after DATA"),
    ]
    with store.write() as conn:
        ledger.apply_outcomes(conn, outcomes, on_bounce=send_bounce_rule(1))
    got = rows(store, digest)
    assert got[people[0]]["status"] == "sent"
    assert abs(got[people[0]]["sent_at"] - datetime.now(UTC)) < timedelta(minutes=1)
    assert got[people[0]]["message_id"] == f"<m{people[0]}@x>"
    assert [got[p]["attempts"] for p in people] == [1, 1, 1]
    assert got[people[1]]["last_error"] == "RCPT: 550 no such user"
    assert got[people[2]]["status"] == "uncertain"
    with store.read() as conn:
        bounced = get_subscriber(conn, people[1])
        assert bounced is not None and bounced.status is SubscriberStatus.BOUNCED
        assert ledger.unfinished(conn, digest) == 0


def test_release_hands_back_claimed_and_in_flight_rows(store: Store) -> None:
    digest = add_digest(store)
    people = add_subscribers(store, 4)
    with store.write() as conn:
        ledger.enqueue(conn, digest, people)
        ids = [d for d, _ in ledger.claim(conn, digest, "w1", 10)]
        ledger.apply_outcomes(
            conn, [Outcome(ids[0], people[0], DeliveryStatus.SENT)], on_bounce=send_bounce_rule(1)
        )
        assert ledger.release(conn, digest, "w1", "stopped") == 3
    got = rows(store, digest)
    assert got[people[0]]["status"] == "sent"
    assert got[people[1]]["status"] == "queued" and got[people[1]]["last_error"] == "stopped"
    assert {got[p]["status"] for p in people[1:]} == {"queued"}
    assert all(got[p]["claimed_by"] is None for p in people[1:])


def test_recover_frees_dead_and_silent_senders_only(store: Store) -> None:
    digest = add_digest(store)
    people = add_subscribers(store, 6)
    with store.write() as conn:  # claim times are the store's: "silent" and "me" claim first
        ledger.enqueue(conn, digest, people)
        ledger.claim(conn, digest, "silent", 2)
        ledger.claim(conn, digest, "me", 1)
    time.sleep(0.3)
    with store.write() as conn:
        ledger.claim(conn, digest, "dead", 2)
        ledger.claim(conn, digest, "alive", 1)
        held = {c.worker_id: c.expired for c in ledger.claimers(conn, digest, LEASE)}
        assert held == {"dead": False, "silent": True, "me": True, "alive": False}
        back = ledger.recover(conn, digest, ["dead"], LEASE, keep="me")
    assert back == 4
    owners = sorted(str(r["claimed_by"]) for r in rows(store, digest).values())
    assert owners == ["None", "None", "None", "None", "alive", "me"]
