"""Managing subscribers from the command line: add, remove, CSV import and export.

The state changes are :mod:`pressroom.subscribers.lifecycle`'s; this module parses the
operator's input and reads the store.

Columns: ``email,name,sections,frequency,status``. ``sections`` lists section slugs or
Chinese names separated by ``;`` or ``|`` (empty = every section); ``frequency`` is
``daily`` (default) or ``weekly``; ``status`` one of pending, active (default),
unsubscribed, bounced. Rows are upserted by normalised address; a bad row is reported as
``line N: reason`` and skipped, the good rows are kept.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from pressroom.errors import ImportRowError, UsageError
from pressroom.models import Frequency, Section, Subscriber, SubscriberStatus
from pressroom.store.articles import list_sections
from pressroom.store.engine import Store
from pressroom.store.subscribers import existing_addresses, list_subscribers
from pressroom.subscribers.addresses import InvalidAddress, normalise_email
from pressroom.subscribers.lifecycle import (
    add_by_operator,
    import_subscriber,
    unsubscribe_address,
)

__all__ = [
    "COLUMNS",
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
]

COLUMNS = ("email", "name", "sections", "frequency", "status")
BATCH = 500
_SEPARATORS = re.compile(r"[;|,，、；]")


class SectionNames:
    """Resolves a section given by slug or by (Chinese) name to its slug."""

    def __init__(self, sections: Sequence[Section]) -> None:
        self._slugs: dict[str, str] = {}
        for section in sections:
            self._slugs[section.slug] = section.slug
            self._slugs[section.name] = section.slug
            self._slugs[section.slug.lower()] = section.slug

    def parse(self, text: str) -> list[str]:
        """The slugs named in ``text`` (separated by ``;``, ``|`` or commas).

        Raises:
            ValueError: a name matches no section.
        """
        slugs: list[str] = []
        for part in _SEPARATORS.split(text):
            name = part.strip()
            if not name:
                continue
            slug = self._slugs.get(name) or self._slugs.get(name.lower())
            if slug is None:
                raise ValueError(f"unknown section {name!r}")
            if slug not in slugs:
                slugs.append(slug)
        return slugs


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """One validated CSV row."""

    email: str
    name: str
    sections: list[str]
    frequency: Frequency
    status: SubscriberStatus


def _choice(value: str, kind: type[Frequency] | type[SubscriberStatus], default: str) -> str:
    text = (value or "").strip().lower() or default
    allowed = [member.value for member in kind]
    if text not in allowed:
        field = "frequency" if kind is Frequency else "status"
        raise ValueError(f"{field} {value!r} is not one of {', '.join(allowed)}")
    return text


def parse_row(row: dict[str, str | None], names: SectionNames) -> SubscriberRow:
    """Validate one CSV row (a dict of the columns).

    Raises:
        ImportRowError: the reason the row is bad.
    """
    try:
        email = normalise_email(row.get("email") or "")
        name = " ".join((row.get("name") or "").split())
        sections = names.parse(row.get("sections") or "")
        frequency = Frequency(_choice(row.get("frequency") or "", Frequency, "daily"))
        status = SubscriberStatus(_choice(row.get("status") or "", SubscriberStatus, "active"))
    except (InvalidAddress, ValueError) as exc:
        raise ImportRowError(str(exc)) from exc
    return SubscriberRow(email, name, sections, frequency, status)


@dataclass
class SubscriberImport:
    """What an import did."""

    rows: int = 0
    added: int = 0
    updated: int = 0
    bad: int = 0

    def summary(self) -> str:
        """One line: rows read, added, updated, bad."""
        text = f"{self.rows} rows: {self.added} added, {self.updated} updated"
        return text + (f", {self.bad} bad rows skipped" if self.bad else "")


def _rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str | None]]]:
    reader = csv.DictReader(stream)
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "email" not in fields:
        raise UsageError("the CSV needs a header row with at least an 'email' column")
    reader.fieldnames = fields
    for row in reader:
        yield reader.line_num, {k: v for k, v in row.items() if isinstance(k, str)}


def import_subscribers(
    store: Store,
    stream: IO[str],
    sections: Sequence[Section],
    now: datetime,
    out: Callable[[str], None],
) -> SubscriberImport:
    """Upsert the subscribers of a CSV ``stream``; report bad rows through ``out``.

    Raises:
        UsageError: the CSV has no header with an ``email`` column.
    """
    names = SectionNames(sections)
    report = SubscriberImport()
    batch: list[SubscriberRow] = []
    for line, raw in _rows(stream):
        report.rows += 1
        try:
            batch.append(parse_row(raw, names))
        except ImportRowError as exc:
            report.bad += 1
            out(f"line {line}: {exc}")
        if len(batch) >= BATCH:
            _save(store, batch, now, report)
            batch = []
    _save(store, batch, now, report)
    return report


def _save(
    store: Store, batch: Iterable[SubscriberRow], now: datetime, report: SubscriberImport
) -> None:
    rows = list(batch)
    with store.write() as conn:
        known = existing_addresses(conn, [row.email for row in rows])
        for row in rows:
            import_subscriber(
                conn,
                row.email,
                name=row.name,
                sections=row.sections,
                frequency=row.frequency,
                status=row.status,
                now=now,
            )
            if row.email in known:
                report.updated += 1
            else:
                report.added += 1
                known.add(row.email)


def export_subscribers(
    store: Store, stream: IO[str], status: SubscriberStatus | None = None
) -> int:
    """Write every subscriber (or those with ``status``) as CSV; return how many."""
    with store.read() as conn:
        found: list[Subscriber] = list_subscribers(conn, status)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in found:
        writer.writerow([s.email, s.name, ";".join(s.sections), s.frequency.value, s.status.value])
    return len(found)


def add_subscriber(
    store: Store, email: str, *, name: str, sections: str, frequency: str, now: datetime
) -> tuple[Subscriber, bool]:
    """Add (or update) the active subscriber ``email``; return it and whether it is new.

    Raises:
        UsageError: the address is invalid or a section is unknown.
    """
    try:
        address = normalise_email(email)
        with store.read() as conn:
            slugs = SectionNames(list_sections(conn)).parse(sections)
    except (InvalidAddress, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    with store.write() as conn:
        done = add_by_operator(
            conn,
            address,
            name=" ".join(name.split()),
            sections=slugs,
            frequency=Frequency(frequency),
            now=now,
        )
    return done.subscriber, done.new


def remove_subscriber(store: Store, email: str, now: datetime) -> Subscriber:
    """Unsubscribe ``email`` (the row is kept, so it is never mailed again by mistake).

    A bounced address stays bounced, as when its owner unsubscribes from a link.

    Raises:
        UsageError: the address is invalid or not subscribed.
    """
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from exc
    with store.write() as conn:
        found = unsubscribe_address(conn, address, now)
    if found is None:
        raise UsageError(f"{address} is not a subscriber")
    return found


def import_csv_file(
    store: Store, path: str, now: datetime, out: Callable[[str], None]
) -> SubscriberImport:
    """:func:`import_subscribers` from the CSV file at ``path`` (UTF-8, a BOM allowed).

    Raises:
        UsageError: the file cannot be read or has no ``email`` header.
    """
    with store.read() as conn:
        sections = list_sections(conn)
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            return import_subscribers(store, stream, sections, now, out)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text: {exc.reason}") from exc


def listing(store: Store, status: str | None) -> list[str]:
    """One tab-separated line per subscriber (``*`` = every section), by address."""
    with store.read() as conn:
        found = list_subscribers(conn, SubscriberStatus(status) if status else None)
    return [
        f"{s.email}\t{s.name}\t{s.status}\t{s.frequency}\t{','.join(s.sections) or '*'}"
        for s in found
    ]
