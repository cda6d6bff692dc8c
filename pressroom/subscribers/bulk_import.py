"""The operator's consent rule, applied to a batch of rows at once (CSV import, ``add``).

Each row's fate is :func:`pressroom.subscribers.lifecycle.operator_step`'s (the
``operator`` and ``resubscribe`` rows of the lifecycle's table); this module only batches
the reads and writes:

- a new address takes the row's status, recorded as a consent event (from nothing);
- an address held as ``unsubscribed``, ``bounced`` or ``complained`` is left exactly as it
  is and reported (``line N: x@y unsubscribed on 2026-11-30; left as it is``), unless the
  operator passes ``--resubscribe``: then the row applies, with a consent event noted
  ``resubscribed by the operator (--resubscribe)`` and a logged warning;
- a pending or active address takes the row's fields (and its open subscribe request, if
  any, is closed); a change of status is a consent event (a row may record a suppression:
  status ``unsubscribed``, ``bounced`` or ``complained``). A row that agrees with a
  suppressed address's status changes nothing and says nothing.

Rows apply in file order, so several rows for one mailbox end as if applied one by one.
A batch costs one lookup query, one insert and one update statement, plus the
consent events in one statement, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import Connection

from pressroom.models import ConsentEvent, ConsentSource, SubscriberStatus
from pressroom.store.subscriber_bulk import HeldSubscriber, held_by_keys, last_status_changes
from pressroom.store.subscriber_writes import (
    insert_subscribers,
    record_consent_events,
    update_subscribers,
)
from pressroom.store.subscribers import address_key, join_sections, new_public_key
from pressroom.subscribers.csv_rows import SubscriberRow
from pressroom.subscribers.lifecycle import RESUBSCRIBE_NOTE, OperatorStep, operator_step

__all__ = ["BatchOutcome", "OperatorRules", "Outcome"]

# Looked up once: an enum member's attribute access costs a call per use.
_ACTIVE = SubscriberStatus.ACTIVE

Numbered = tuple[int, SubscriberRow]


class Outcome:
    """What one row did (the names the reports count)."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    KEPT = "kept"  # a suppressed address left as it is


@dataclass
class BatchOutcome:
    """What a batch did: per-row outcomes, messages by line, warnings for the log."""

    outcomes: list[tuple[int, str, str]] = field(default_factory=list)  # line, outcome, key
    notices: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    held: dict[str, HeldSubscriber]
    new: dict[str, HeldSubscriber] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # stored keys to write
    events: list[tuple[str, SubscriberStatus | None, SubscriberStatus, str]] = field(
        default_factory=list
    )
    kept: list[tuple[int, str, HeldSubscriber]] = field(default_factory=list)


class OperatorRules:
    """Applies rows given by the operator, under the consent rule above."""

    def __init__(
        self, source: ConsentSource, now: datetime, zone: tzinfo, *, resubscribe: bool = False
    ) -> None:
        self.source, self.now, self.zone, self.resubscribe = source, now, zone, resubscribe

    def apply(self, conn: Connection, rows: Sequence[Numbered]) -> BatchOutcome:
        """Write ``rows`` (numbered by line) in the caller's transaction."""
        keys = {row.key or address_key(row.email) for _, row in rows}
        plan = _Plan(held_by_keys(conn, keys))
        outcome = BatchOutcome()
        for line, row in rows:
            key = row.key or address_key(row.email)
            outcome.outcomes.append((line, self._step(plan, line, key, row, outcome), key))
        outcome.ids = self._write(conn, plan)
        outcome.notices.extend(self._kept_notices(conn, plan))
        return outcome

    def _step(
        self, plan: _Plan, line: int, key: str, row: SubscriberRow, outcome: BatchOutcome
    ) -> str:
        current = plan.new.get(key) or plan.held.get(key)
        wanted = _wanted(current, key, row, self.now)
        step = operator_step(
            None if current is None else current.status, row.status, resubscribe=self.resubscribe
        )
        if step is OperatorStep.ADD:
            plan.new[key] = wanted
            plan.events.append((key, None, row.status, ""))
            return Outcome.ADDED
        assert current is not None  # only a new address is added
        if step is OperatorStep.AGREE:
            return Outcome.UNCHANGED  # nothing to refuse: the row agrees
        if step is OperatorStep.KEEP:
            plan.kept.append((line, key, current))
            return Outcome.KEPT
        same = _same(current, wanted)
        note = ""
        if current.status != wanted.status:
            if current.status.suppressed:
                note = RESUBSCRIBE_NOTE
                outcome.warnings.append(
                    f"line {line}: {current.email} was {current.status}; {RESUBSCRIBE_NOTE}"
                )
            plan.events.append((key, current.status, wanted.status, note))
        if key in plan.new:
            plan.new[key] = wanted
        else:
            # Written even when equal: any operator change closes an open subscribe request.
            plan.held[key] = wanted
            plan.changed.add(key)
        return Outcome.UNCHANGED if same else Outcome.UPDATED

    def _write(self, conn: Connection, plan: _Plan) -> dict[str, int]:
        new = list(plan.new.values())
        ids = insert_subscribers(conn, new, [new_public_key() for _ in new], self.now)
        update_subscribers(conn, [plan.held[key] for key in plan.changed], self.now)
        for key, held in plan.held.items():
            if held.id is not None:
                ids[key] = held.id
        record_consent_events(
            conn,
            [
                ConsentEvent(ids[key], before, after, self.now, self.source, note=note)
                for key, before, after, note in plan.events
            ],
        )
        return ids

    def _kept_notices(self, conn: Connection, plan: _Plan) -> list[tuple[int, str]]:
        if not plan.kept:
            return []
        stored = sorted({held.id for _, _, held in plan.kept if held.id is not None})
        since = last_status_changes(conn, stored)
        notices = []
        for line, _, held in plan.kept:
            when = since.get(held.id or 0) or held.updated_at or self.now
            day = f"{when.astimezone(self.zone):%Y-%m-%d}"
            notices.append((line, f"{held.email} {held.status} on {day}; left as it is"))
        return notices


def _wanted(
    current: HeldSubscriber | None, key: str, row: SubscriberRow, now: datetime
) -> HeldSubscriber:
    """``current`` (or a new subscriber) with the row's fields and status."""
    active = row.status is _ACTIVE
    if current is None:
        return HeldSubscriber(
            None, row.email, key, row.name, row.status, join_sections(row.sections),
            row.frequency, 0, now if active else None, None,
        )  # fmt: skip
    return HeldSubscriber(
        current.id, current.email, key, row.name, row.status, join_sections(row.sections),
        row.frequency,
        0 if active else current.bounces,
        (current.confirmed_at or now) if active else current.confirmed_at,
        current.updated_at,
    )  # fmt: skip


def _same(current: HeldSubscriber, wanted: HeldSubscriber) -> bool:
    return (current.name, current.status, current.sections, current.frequency) == (
        wanted.name,
        wanted.status,
        wanted.sections,
        wanted.frequency,
    )
