"""Managing subscribers from the command line: add, remove, CSV import and export.

The consent rules for the operator's rows are :mod:`pressroom.subscribers.bulk_import`'s
(CSV import and ``add`` share them); reading the CSV is :mod:`pressroom.subscribers.csv_rows`'s.

Columns: ``email,name,sections,frequency,status``. ``sections`` lists section slugs or
Chinese names separated by ``;`` or ``|`` (empty = every section); ``frequency`` is
``daily`` (default) or ``weekly``; ``status`` one of pending, active (default),
unsubscribed, bounced, complained. Rows are matched by mailbox; a bad row is reported as
``line N: reason`` and skipped, the good rows are kept.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import IO

from pressroom.errors import ImportRowError, UsageError
from pressroom.incoming import chunked, parsed_ahead
from pressroom.line_index import LineIndex
from pressroom.models import ConsentEvent, ConsentSource, Subscriber, SubscriberStatus
from pressroom.progress import progress
from pressroom.store.articles import list_sections
from pressroom.store.bulk import write_bisecting
from pressroom.store.engine import Store
from pressroom.store.subscriber_bulk import consent_events_of, subscriber_pages
from pressroom.store.subscribers import address_key, find_subscriber, list_subscribers
from pressroom.subscribers.addresses import InvalidAddress, normalise_email
from pressroom.subscribers.bulk_import import BatchOutcome, OperatorRules
from pressroom.subscribers.csv_rows import (
    COLUMNS,
    SectionNames,
    SubscriberRow,
    csv_records,
    neutralise,
    parse_row,
)
from pressroom.subscribers.history import history_lines
from pressroom.subscribers.lifecycle import subscriber_history, unsubscribe_address

__all__ = [
    "COLUMNS",
    "CONSENT_COLUMNS",
    "AddResult",
    "SectionNames",
    "SubscriberImport",
    "SubscriberRow",
    "add_subscriber",
    "export_subscribers",
    "import_csv_file",
    "import_subscribers",
    "listing",
    "parse_row",
    "remove_subscriber",
    "show_subscriber",
]

log = logging.getLogger("pressroom.subscribers")

BATCH = 2000
BACKGROUND_BYTES = 2_000_000  # larger files are parsed in a helper process
CONSENT_COLUMNS = ("created_at", "confirmed_at", "consent_history")
Numbered = tuple[int, SubscriberRow]


@dataclass
class SubscriberImport:
    """What an import did."""

    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    duplicates: int = 0
    bad: int = 0

    def summary(self) -> str:
        """One line: rows read, added, updated, unchanged, left as they are, bad."""
        text = f"{self.rows} rows: {self.added} added, {self.updated} updated"
        if self.unchanged:
            text += f", {self.unchanged} unchanged"
        if self.kept:
            text += f", {self.kept} unsubscribed, bounced or complained left as they are"
        if self.duplicates:
            noun = "address" if self.duplicates == 1 else "addresses"
            text += f", {self.duplicates} repeated {noun} (the later row won)"
        return text + (f", {self.bad} bad rows skipped" if self.bad else "")

    def count(self, outcome: str) -> None:
        """Count one row's outcome (an :class:`Outcome` name)."""
        setattr(self, outcome, getattr(self, outcome) + 1)


def import_subscribers(
    store: Store,
    stream: IO[bytes],
    now: datetime,
    out: Callable[[str], None],
    *,
    zone: tzinfo = UTC,
    resubscribe: bool = False,
    smtputf8: bool = False,
    batch_size: int = BATCH,
    advance: Callable[[int], None] = lambda n: None,
    background: bool = False,
) -> SubscriberImport:
    """Apply the rows of the CSV ``stream`` under the operator's consent rules.

    Bad rows, suppressed addresses left as they are and repeated addresses are reported
    through ``out`` as ``line N: ...``; ``--resubscribe`` changes are logged as warnings.
    ``background`` parses in a helper process while batches are written
    (:func:`pressroom.incoming.parsed_ahead`); the outcome is the same. ``smtputf8``
    admits non-ASCII local parts (``[mail.smtp] smtputf8``).

    Raises:
        UsageError: the CSV has no header with an ``email`` column.
        StoreError: the store itself failed; the batches before are committed.
    """
    with store.read() as conn:
        names = SectionNames(list_sections(conn))
    rules = OperatorRules(ConsentSource.CSV, now, zone, resubscribe=resubscribe)
    report = SubscriberImport()
    seen = LineIndex()
    chunks = chunked(csv_records(stream), batch_size)
    try:
        for parsed in parsed_ahead(
            chunks, partial(_parse_chunk, names, smtputf8), background=background
        ):
            batch: list[Numbered] = []
            for line, row in parsed:
                report.rows += 1
                if isinstance(row, str):
                    report.bad += 1
                    out(f"line {line}: {row}")
                else:
                    batch.append((line, row))
            _flush(store, batch, rules, seen, report, out)
            advance(len(parsed))
    finally:
        seen.close()
    return report


def _parse_chunk(
    names: SectionNames, smtputf8: bool, chunk: list[tuple[int, dict[str, str | None] | str]]
) -> list[tuple[int, SubscriberRow | str]]:
    """Each record as a row or the reason it is bad (runs in the helper process)."""
    parsed: list[tuple[int, SubscriberRow | str]] = []
    for line, record in chunk:
        try:
            if isinstance(record, str):
                raise ImportRowError(record)
            parsed.append((line, parse_row(record, names, smtputf8=smtputf8)))
        except ImportRowError as exc:
            parsed.append((line, str(exc)))
    return parsed


def _flush(
    store: Store,
    batch: list[Numbered],
    rules: OperatorRules,
    seen: LineIndex,
    report: SubscriberImport,
    out: Callable[[str], None],
) -> None:
    if not batch:
        return
    messages: list[tuple[int, str]] = []
    earlier = seen.earlier([(row.key or address_key(row.email), line) for line, row in batch])
    for line, previous in earlier.items():
        report.duplicates += 1
        messages.append((line, f"same address as line {previous}; the later row wins"))

    def refused(item: Numbered, reason: str) -> None:
        report.bad += 1
        messages.append((item[0], f"the store refused the row ({reason})"))

    for done in write_bisecting(store, list(batch), rules.apply, refused):
        _tally(done, report, messages)
    for line, text in sorted(messages):
        out(f"line {line}: {text}")
    batch.clear()


def _tally(done: BatchOutcome, report: SubscriberImport, messages: list[tuple[int, str]]) -> None:
    for _, outcome, _ in done.outcomes:
        report.count(outcome)
    messages.extend(done.notices)
    for warning in done.warnings:
        log.warning("%s", warning)


def import_csv_file(
    store: Store,
    path: str,
    now: datetime,
    out: Callable[[str], None],
    *,
    zone: tzinfo = UTC,
    resubscribe: bool = False,
    smtputf8: bool = False,
    show_progress: bool = True,
) -> SubscriberImport:
    """:func:`import_subscribers` from the CSV file at ``path`` (``-``: standard input).

    UTF-8, a BOM allowed. A file over 2 MB (or standard input) is parsed in a helper process.

    Raises:
        UsageError: the file cannot be read or has no ``email`` header.
    """
    try:
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        large = path == "-" or os.fstat(stream.fileno()).st_size > BACKGROUND_BYTES
        with progress("importing", unit="rows", enabled=show_progress) as bar:
            return import_subscribers(
                store, stream, now, out, zone=zone, resubscribe=resubscribe,
                smtputf8=smtputf8, advance=bar.advance, background=large,
            )  # fmt: skip
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def export_subscribers(
    store: Store,
    stream: IO[str],
    status: SubscriberStatus | None = None,
    *,
    with_consent: bool = False,
) -> int:
    """Write every subscriber (or those with ``status``) as CSV; return how many.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so a
    spreadsheet shows it as text instead of running it. ``with_consent`` adds
    :data:`CONSENT_COLUMNS`: when the row was created and first confirmed (ISO 8601 UTC)
    and the consent history as a JSON array of events.
    """
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS + CONSENT_COLUMNS if with_consent else COLUMNS)
    count = 0
    for page, events in _pages(store, status, with_consent):
        for s in page:
            cells = [s.email, s.name, ";".join(s.sections), s.frequency.value, s.status.value]
            if with_consent:
                cells += _consent_cells(s, events.get(s.id, []))
            writer.writerow([neutralise(cell) for cell in cells])
        count += len(page)
    return count


def _pages(
    store: Store, status: SubscriberStatus | None, with_consent: bool
) -> Iterator[tuple[list[Subscriber], dict[int, list[ConsentEvent]]]]:
    with store.read() as conn:
        for page in subscriber_pages(conn, status):
            ids = [s.id for s in page]
            yield page, consent_events_of(conn, ids) if with_consent else {}


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _consent_cells(subscriber: Subscriber, events: list[ConsentEvent]) -> list[str]:
    confirmed = next((e.at for e in events if e.to_status == SubscriberStatus.ACTIVE), None)
    history = [
        {
            "at": _iso(e.at),
            "from": None if e.from_status is None else e.from_status.value,
            "to": e.to_status.value,
            "source": e.source.value,
            "ip": e.ip,
            "note": e.note,
        }
        for e in events
    ]
    text = json.dumps(history, ensure_ascii=False, separators=(",", ":"))
    return [_iso(subscriber.created_at), _iso(confirmed), text]


@dataclass(frozen=True, slots=True)
class AddResult:
    """What ``subscribers add`` did: the subscriber, an :class:`Outcome`, and a notice."""

    subscriber: Subscriber
    outcome: str
    notice: str = ""


def add_subscriber(
    store: Store,
    email: str,
    *,
    name: str,
    sections: str,
    frequency: str,
    now: datetime,
    zone: tzinfo = UTC,
    resubscribe: bool = False,
    smtputf8: bool = False,
) -> AddResult:
    """Add (or update) the active subscriber ``email`` under the operator's consent rules.

    An unsubscribed, bounced or complained address is left as it is (the result's outcome
    is ``kept`` and its notice says since when) unless ``resubscribe``.

    Raises:
        UsageError: the address, the name or a section is invalid.
    """
    with store.read() as conn:
        names = SectionNames(list_sections(conn))
    fields: dict[str, str | None] = {
        "email": email, "name": name, "sections": sections, "frequency": frequency,
        "status": "active",
    }  # fmt: skip
    try:
        row = parse_row(fields, names, smtputf8=smtputf8)
    except ImportRowError as exc:
        raise UsageError(str(exc)) from exc
    rules = OperatorRules(ConsentSource.CLI, now, zone, resubscribe=resubscribe)
    with store.write() as conn:
        done = rules.apply(conn, [(1, row)])
        saved = find_subscriber(conn, row.email)
    assert saved is not None  # just written or found in this transaction
    for warning in done.warnings:
        log.warning("%s", warning.removeprefix("line 1: "))
    notice = done.notices[0][1] if done.notices else ""
    return AddResult(saved, done.outcomes[0][1], notice)


def remove_subscriber(store: Store, email: str, now: datetime) -> Subscriber:
    """Unsubscribe ``email`` (the row is kept, so it is never mailed again by mistake).

    A bounced address stays bounced, as when its owner unsubscribes from a link.

    Raises:
        UsageError: the address is invalid or not subscribed.
    """
    try:
        address = normalise_email(email, smtputf8=True)  # finding one: any stored address
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from exc
    with store.write() as conn:
        found = unsubscribe_address(conn, address, now)
    if found is None:
        raise UsageError(f"{address} is not a subscriber")
    return found


def listing(store: Store, status: str | None) -> list[str]:
    """One tab-separated line per subscriber (``*`` = every section), by address."""
    with store.read() as conn:
        found = list_subscribers(conn, SubscriberStatus(status) if status else None)
    return [
        f"{s.email}\t{s.name}\t{s.status}\t{s.frequency}\t{','.join(s.sections) or '*'}"
        for s in found
    ]


def show_subscriber(store: Store, email: str, zone: tzinfo) -> list[str]:
    """The lines of ``subscribers show``: the subscriber and its consent history.

    Raises:
        UsageError: the address is invalid or not a subscriber.
    """
    try:
        address = normalise_email(email, smtputf8=True)  # finding one: any stored address
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from exc
    with store.read() as conn:
        found = subscriber_history(conn, address)
    if found is None:
        raise UsageError(f"{address} is not a subscriber")
    return history_lines(*found, zone)
