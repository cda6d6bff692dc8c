"""The delivery ledger: one ``deliveries`` row per (digest, subscriber).

A row's life: ``queued`` -> ``sending`` (claimed by one sender, ``claimed_by`` set; the
message may be on its way) -> ``sent`` (written after the server's final 250) or
``failed`` / ``uncertain`` / ``skipped``. ``attempts`` counts the claims.

Senders claim batches: on PostgreSQL with ``SELECT ... FOR UPDATE SKIP LOCKED`` so several
processes split a run without waiting on each other; on SQLite inside the store's
``BEGIN IMMEDIATE`` write transaction, with ``UPDATE ... RETURNING``.

Recovery (see :func:`recover`): when a sender is gone (its process is dead, or it did not
renew its claims for a lease period), its ``sending`` rows go back to ``queued`` and are
sent again. The sender (:mod:`pressroom.delivery.send`) commits each connection's ``sent``
before that connection hands over its next message, so among those rows at most one per
connection had in fact reached the server: that is the one duplicate the contract allows,
and nobody is ever skipped.

Claim times and ``sent_at`` are the store's clock (:mod:`pressroom.store.store_time`), so
senders on machines whose clocks disagree judge each other's claims alike.

Functions take a :class:`~sqlalchemy.Connection`; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.models import DeliveryStatus, Subscriber
from pressroom.store.schema import deliveries, subscribers
from pressroom.store.store_time import db_now, now_expr
from pressroom.store.subscribers import row_to_subscriber

__all__ = [
    "FINISHED",
    "STATUSES",
    "UNFINISHED",
    "Claimer",
    "OnBounce",
    "Outcome",
    "apply_outcomes",
    "claim",
    "claimers",
    "counts",
    "counts_and_held",
    "enqueue",
    "recover",
    "refresh_claims",
    "release",
    "unfinished",
]

STATUSES = tuple(DeliveryStatus)
UNFINISHED = tuple(s for s in DeliveryStatus if not s.finished)
FINISHED = tuple(s for s in DeliveryStatus if s.finished)
_CHUNK = 1000

OnBounce = Callable[[Connection, int, datetime], object]
"""What a send-time bounce does to its subscriber: called with the ledger's connection (the
same transaction as the delivery's mark), the subscriber's id and the store's now. The
ledger never decides a status: the owner of the send passes the subscribers' rule,
:func:`pressroom.subscribers.lifecycle.send_bounce_rule`."""
_QUEUED = DeliveryStatus.QUEUED.value
_UNFINISHED_VALUES = [s.value for s in UNFINISHED]


def enqueue(conn: Connection, digest_id: int, subscriber_ids: Iterable[int]) -> int:
    """Queue a delivery of ``digest_id`` to each subscriber; return how many rows were added.

    Rows that already exist for a (digest, subscriber) are left untouched, so calling
    this again for a resumed run changes nothing.
    """
    before = _count(conn, digest_id)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(deliveries).on_conflict_do_nothing(
        index_elements=["digest_id", "subscriber_id"]
    )
    chunk: list[dict[str, Any]] = []
    for subscriber_id in subscriber_ids:
        chunk.append({"digest_id": digest_id, "subscriber_id": subscriber_id, "status": _QUEUED})
        if len(chunk) >= _CHUNK:
            conn.execute(statement, chunk)
            chunk = []
    if chunk:
        conn.execute(statement, chunk)
    return _count(conn, digest_id) - before


def _count(conn: Connection, digest_id: int) -> int:
    query = select(func.count()).select_from(deliveries).where(deliveries.c.digest_id == digest_id)
    return int(conn.execute(query).scalar_one())


def counts(conn: Connection, digest_id: int) -> dict[DeliveryStatus, int]:
    """Rows of ``digest_id`` per status; every status in :data:`STATUSES` is a key."""
    return counts_and_held(conn, digest_id, claimer=None)[0]


def counts_and_held(
    conn: Connection, digest_id: int, claimer: str | None
) -> tuple[dict[DeliveryStatus, int], int]:
    """Rows per status, and the unfinished rows claimed by senders other than ``claimer``.

    One statement, so both come from one snapshot: on PostgreSQL (READ COMMITTED) two
    queries could see another sender's commit in between and disagree.
    """
    held = and_(
        deliveries.c.status.in_(_UNFINISHED_VALUES),
        deliveries.c.claimed_by.is_not(None),
        deliveries.c.claimed_by != (claimer or ""),
    )
    query = (
        select(deliveries.c.status, func.count(), func.sum(case((held, 1), else_=0)))
        .where(deliveries.c.digest_id == digest_id)
        .group_by(deliveries.c.status)
    )
    result = dict.fromkeys(STATUSES, 0)
    others = 0
    for status, number, held_elsewhere in conn.execute(query):
        result[DeliveryStatus(status)] = int(number)
        others += int(held_elsewhere or 0)
    return result, others


def unfinished(conn: Connection, digest_id: int) -> int:
    """How many deliveries of ``digest_id`` are not recorded yet (queued + sending)."""
    query = (
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.digest_id == digest_id, deliveries.c.status.in_(_UNFINISHED_VALUES))
    )
    return int(conn.execute(query).scalar_one())


def claim(
    conn: Connection, digest_id: int, worker_id: str, limit: int
) -> list[tuple[int, Subscriber | None]]:
    """Claim up to ``limit`` unclaimed queued deliveries for ``worker_id``.

    Returns (delivery id, subscriber) pairs in id order; the subscriber is None when its
    row is gone. The rows become ``sending``, held by ``worker_id``.
    """
    candidates = (
        select(deliveries.c.id)
        .where(
            deliveries.c.digest_id == digest_id,
            deliveries.c.status == _QUEUED,
            deliveries.c.claimed_by.is_(None),
        )
        .order_by(deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(deliveries)
        .where(deliveries.c.id.in_(candidates.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_by=worker_id,
            claimed_at=now_expr(conn),
            attempts=deliveries.c.attempts + 1,
        )
        .returning(deliveries.c.id, deliveries.c.subscriber_id)
    )
    pairs = sorted((int(row[0]), int(row[1])) for row in conn.execute(statement))
    if not pairs:
        return []
    people = _subscribers(conn, [sid for _, sid in pairs])
    return [(delivery_id, people.get(sid)) for delivery_id, sid in pairs]


def _subscribers(conn: Connection, ids: Sequence[int]) -> dict[int, Subscriber]:
    rows = conn.execute(select(subscribers).where(subscribers.c.id.in_(ids)))
    return {row.id: row_to_subscriber(row) for row in rows}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one delivery, to be written by :func:`apply_outcomes`.

    ``status`` is one of :data:`FINISHED`, or ``queued`` (hand the row back: nothing
    was sent). ``bounce`` counts a bounce for the subscriber (a 5xx about the recipient).
    """

    delivery_id: int
    subscriber_id: int
    status: DeliveryStatus
    error: str | None = None
    message_id: str | None = None
    bounce: bool = False


def apply_outcomes(conn: Connection, outcomes: Sequence[Outcome], *, on_bounce: OnBounce) -> None:
    """Write ``outcomes`` in order, a few statements per kind (one group commit); each
    outcome that counts a bounce is then passed to ``on_bounce`` in the same transaction."""
    for group in _in_order_groups(outcomes):
        if group[0].status == DeliveryStatus.QUEUED:
            _mark_requeued(conn, group)
        else:
            _mark_finished(conn, group)
    bounces = [o for o in outcomes if o.bounce]
    if bounces:
        now = db_now(conn)
        for outcome in bounces:
            on_bounce(conn, outcome.subscriber_id, now)


def _in_order_groups(outcomes: Sequence[Outcome]) -> list[list[Outcome]]:
    """Runs of consecutive outcomes with the same status (order between rows matters)."""
    groups: list[list[Outcome]] = []
    for outcome in outcomes:
        if groups and groups[-1][0].status == outcome.status:
            groups[-1].append(outcome)
        else:
            groups.append([outcome])
    return groups


# Built once: constructing an UPDATE costs more than running it (group commits are hot).
_BY_ID = deliveries.c.id == bindparam("b_id")
_FINISH = (
    update(deliveries)
    .where(_BY_ID)
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        message_id=func.coalesce(bindparam("b_message_id"), deliveries.c.message_id),
    )
)
_FINISH_SENT: dict[str, Any] = {}  # per dialect: sent_at is the store's now
_REQUEUE = (
    update(deliveries)
    .where(_BY_ID)
    .values(status=_QUEUED, claimed_by=None, claimed_at=None, last_error=bindparam("b_error"))
)


def _mark_finished(conn: Connection, group: Sequence[Outcome]) -> None:
    sent = group[0].status == DeliveryStatus.SENT
    params = [
        {"b_id": o.delivery_id, "b_status": str(o.status), "b_error": o.error,
         "b_message_id": o.message_id}
        for o in group
    ]  # fmt: skip
    statement = _FINISH
    if sent:
        name = conn.dialect.name
        if name not in _FINISH_SENT:
            _FINISH_SENT[name] = _FINISH.values(sent_at=now_expr(conn))
        statement = _FINISH_SENT[name]
    conn.execute(statement, params)


def _mark_requeued(conn: Connection, group: Sequence[Outcome]) -> None:
    conn.execute(_REQUEUE, [{"b_id": o.delivery_id, "b_error": o.error} for o in group])


def refresh_claims(conn: Connection, digest_id: int, worker_id: str) -> None:
    """Renew the claim time of every unfinished row ``worker_id`` holds (its heartbeat)."""
    conn.execute(
        update(deliveries).where(_held_by(digest_id, worker_id)).values(claimed_at=now_expr(conn))
    )


def _held_by(digest_id: int, worker_id: str) -> Any:
    return and_(
        deliveries.c.digest_id == digest_id,
        deliveries.c.claimed_by == worker_id,
        deliveries.c.status.in_(_UNFINISHED_VALUES),
    )


def release(conn: Connection, digest_id: int, worker_id: str, reason: str) -> int:
    """Give back every unfinished row ``worker_id`` holds; return how many.

    They go back to ``queued``, unclaimed, with ``reason`` as their last error (see the
    module's recovery rule).
    """
    result = conn.execute(
        update(deliveries)
        .where(_held_by(digest_id, worker_id))
        .values(status=_QUEUED, claimed_by=None, claimed_at=None, last_error=reason)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Claimer:
    """A sender holding unfinished rows of a digest, and its newest claim time."""

    worker_id: str
    claimed_at: datetime
    expired: bool = False
    """Its newest claim is older than the lease, by the store's clock."""


def claimers(
    conn: Connection, digest_id: int, lease: timedelta = timedelta(days=36500)
) -> list[Claimer]:
    """Every sender holding unfinished rows of ``digest_id`` (expired: silent for ``lease``)."""
    newest = func.max(deliveries.c.claimed_at)
    query = (
        select(deliveries.c.claimed_by, newest, newest < now_expr(conn, -lease))
        .where(
            deliveries.c.digest_id == digest_id,
            deliveries.c.status.in_(_UNFINISHED_VALUES),
            deliveries.c.claimed_by.is_not(None),
        )
        .group_by(deliveries.c.claimed_by)
    )
    return [Claimer(str(w), at, bool(old)) for w, at, old in conn.execute(query)]


def recover(
    conn: Connection,
    digest_id: int,
    dead: Iterable[str],
    lease: timedelta,
    *,
    keep: str | None = None,
) -> int:
    """Release the rows of senders that are gone; return how many rows came back.

    A sender is gone when its id is in ``dead`` (the caller knows its process ended) or
    its newest claim is older than ``lease`` by the store's clock (it stopped refreshing).
    ``keep`` (the caller's own id) is never judged by the lease.
    """
    gone = set(dead)
    gone.update(
        c.worker_id for c in claimers(conn, digest_id, lease) if c.expired and c.worker_id != keep
    )
    total = 0
    for worker_id in sorted(gone):
        total += release(
            conn, digest_id, worker_id, f"requeued: sender {worker_id} stopped while sending"
        )
    return total
