"""Reading a subscriber CSV: one record per line, each line decoded and checked alone.

Columns: ``email,name,sections,frequency,status`` (only ``email`` is required; other
columns, such as those ``export --with-consent`` adds, are ignored). Reading line by line
is what lets a bad line cost only itself: an invalid UTF-8 byte, a line longer than
16 MB, a field over the csv module's 131,072 characters, or an unterminated quote (which
would otherwise swallow every following line into one field) is reported as ``line N:
reason``, and the next line is read afresh. So a record cannot span lines: a newline
inside a quoted field is reported as an unterminated quote.

Export neutralises spreadsheet formulas by prefixing ``'`` to a cell that starts with
``=``, ``+``, ``-``, ``@``, tab or CR (OWASP's advice on CSV injection); reading removes
that one apostrophe again, so an export imports back unchanged.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TypeVar

from pressroom.errors import ImportRowError, UsageError
from pressroom.incoming import numbered_lines, text_problem
from pressroom.models import Frequency, Section, SubscriberStatus
from pressroom.store.subscribers import address_key
from pressroom.subscribers.addresses import InvalidAddress, normalise_email

__all__ = [
    "COLUMNS",
    "FORMULA_STARTS",
    "MAX_NAME",
    "SectionNames",
    "SubscriberRow",
    "csv_records",
    "neutralise",
    "parse_row",
]

COLUMNS = ("email", "name", "sections", "frequency", "status")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_NAME = 200
_SEPARATORS = re.compile(r"[;|,，、；]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_EMAIL = 320


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
                shown = name if len(name) <= 40 else name[:37] + "..."
                raise ValueError(f"unknown section {shown!r}")
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
    key: str = ""  # the mailbox (:func:`pressroom.store.subscribers.address_key`)


_FREQUENCIES = {f.value: f for f in Frequency}
_STATUSES = {s.value: s for s in SubscriberStatus}


Choice = TypeVar("Choice")


def _choice(value: str | None, field: str, allowed: dict[str, Choice], default: str) -> Choice:
    text = (value or "").strip().lower() or default
    found = allowed.get(text)
    if found is None:
        shown = value if len(value or "") <= 40 else (value or "")[:37] + "..."
        raise ValueError(f"{field} {shown!r} is not one of {', '.join(allowed)}")
    return found


def _name(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(f"name {problem}")
    if _CONTROL.search(value):
        raise ValueError("name contains a control character")
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        raise ValueError(f"name is longer than {MAX_NAME} characters ({len(name):,})")
    return name


def parse_row(row: dict[str, str | None], names: SectionNames) -> SubscriberRow:
    """Validate one CSV row (a dict of the columns).

    Raises:
        ImportRowError: the reason the row is bad.
    """
    try:
        raw_email = row.get("email") or ""
        if len(raw_email) > _MAX_EMAIL or text_problem(raw_email):
            raise InvalidAddress("the e-mail address is not a valid address (too long or NUL)")
        email = normalise_email(raw_email)
        name = _name(row.get("name") or "")
        sections = names.parse(row.get("sections") or "")
        frequency = _choice(row.get("frequency"), "frequency", _FREQUENCIES, "daily")
        status = _choice(row.get("status"), "status", _STATUSES, "active")
    except (InvalidAddress, ValueError) as exc:
        raise ImportRowError(str(exc)) from exc
    return SubscriberRow(email, name, sections, frequency, status, address_key(email))


def neutralise(cell: str) -> str:
    """``cell`` made safe for a spreadsheet: a leading formula character gets a ``'``."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _restore(cell: str) -> str:
    if cell.startswith("'") and cell[1:2] and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _fields(text: str) -> list[str]:
    """The cells of one line; raises ValueError for an unterminated quote or a huge field."""
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        message = str(exc)
    if "unexpected end of data" in message:
        raise ValueError("a quoted field is not closed on this line (unterminated quote)")
    if "field limit" in message:
        raise ValueError(f"a field is longer than {csv.field_size_limit():,} characters")
    try:  # a stray quote inside a field: read it leniently, as spreadsheets write it
        return next(csv.reader([text]))
    except csv.Error:
        raise ValueError("not a CSV line") from None


def _decode(raw: bytes | None) -> str:
    if raw is None:
        raise ValueError("longer than 16 MB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})"
        ) from None


def csv_records(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str | None] | str]]:
    """Yield ``(line, row)`` for each record after the header, or ``(line, reason)``.

    Blank lines are skipped. The header's names are matched without case or blanks.

    Raises:
        UsageError: there is no header line with an ``email`` column.
    """
    lines = numbered_lines(stream)
    header: list[str] | None = None
    for number, raw in lines:
        try:
            text = _decode(raw.removeprefix(b"\xef\xbb\xbf") if raw and number == 1 else raw)
            if not text.strip():
                continue
            cells = _fields(text)
        except ValueError as exc:
            raise UsageError(f"line {number}: the CSV header is unreadable: {exc}") from None
        header = [cell.strip().lower() for cell in cells]
        break
    if header is None or "email" not in header:
        raise UsageError("the CSV needs a header row with at least an 'email' column")
    for number, raw in lines:
        try:
            text = _decode(raw)
            if not text.strip():
                continue
            cells = _fields(text)
        except ValueError as exc:
            yield number, str(exc)
            continue
        if "'" in text:
            cells = [_restore(cell) for cell in cells]
        yield number, dict(zip(header, cells, strict=False))
