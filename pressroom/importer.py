"""``pressroom import``: load articles from JSON Lines, upserting by URL.

Rows stream through in batches (bounded memory at any file size); each batch is one
write transaction. A bad row is reported as ``line N: reason`` and skipped; good rows are
kept.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any

from pressroom.clock import Clock, as_utc
from pressroom.errors import ImportRowError, UsageError
from pressroom.models import ArticleStatus, Priority
from pressroom.progress import progress
from pressroom.store.articles import (
    ARTICLE_FIELDS,
    UpsertCounts,
    list_sections,
    upsert_articles,
)
from pressroom.store.engine import Store

__all__ = ["ImportReport", "RowParser", "import_file", "import_lines"]

_PRIORITY_NAMES = {
    "normal": 0,
    "recommended": 1,
    "headline": 2,
    "普通": 0,
    "推荐": 1,
    "头条": 2,
}
_STATUSES = frozenset(s.value for s in ArticleStatus)
_ABSOLUTE_URL = re.compile(r"https?://[^/\s?#]+([/?#]\S*)?", re.IGNORECASE)
_KNOWN_FIELDS = frozenset(ARTICLE_FIELDS) | {"id"}


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    bad: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)

    def summary(self) -> str:
        """One line: rows read, new, updated, unchanged, bad."""
        c = self.counts
        text = f"{self.rows} rows: {c.inserted} new, {c.updated} updated, {c.unchanged} unchanged"
        return text + (f", {self.bad} bad rows skipped" if self.bad else "")


class RowParser:
    """Turns one JSON object into a validated article row, or raises ImportRowError."""

    def __init__(self, sections: Mapping[str, str], zone: tzinfo) -> None:
        """``sections`` maps every accepted section key (slug and name) to its slug."""
        self.sections = sections
        self.zone = zone

    def parse(self, line: str) -> dict[str, Any]:
        """Validate one JSON Lines line; raise ImportRowError with the reason."""
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportRowError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(data, dict):
            raise ImportRowError("not a JSON object")
        unknown = sorted(set(data) - _KNOWN_FIELDS)
        if unknown:
            raise ImportRowError(f"unknown field {unknown[0]!r}")
        published = self._time(data, "published_at", required=True)
        assert published is not None
        return {
            "url": self._url(data, "url", required=True),
            "section": self._section(data),
            "title": self._text(data, "title", required=True),
            "summary": self._text(data, "summary"),
            "body_html": self._text(data, "body_html"),
            "authors": self._authors(data),
            "image_url": self._url(data, "image_url") or None,
            "published_at": published,
            "updated_at": self._time(data, "updated_at"),
            "views": self._views(data),
            "priority": self._priority(data),
            "status": self._status(data),
        }

    def _text(self, data: dict[str, Any], key: str, required: bool = False) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise ImportRowError(f"missing {key}")
            return ""
        if not isinstance(value, str):
            raise ImportRowError(f"{key} must be a string")
        if required and not value.strip():
            raise ImportRowError(f"{key} is empty")
        return value.strip() if key in ("title", "url", "image_url") else value

    def _url(self, data: dict[str, Any], key: str, required: bool = False) -> str:
        value = self._text(data, key, required)
        if value and not _ABSOLUTE_URL.fullmatch(value):
            raise ImportRowError(f"{key} must be an absolute http(s) URL, got {value!r}")
        return value

    def _section(self, data: dict[str, Any]) -> str:
        key = self._text(data, "section", required=True)
        slug = self.sections.get(key) or self.sections.get(key.lower())
        if slug is None:
            raise ImportRowError(f"unknown section {key!r}")
        return slug

    def _authors(self, data: dict[str, Any]) -> str:
        value = data.get("authors")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ";".join(v.strip() for v in value if v.strip())
        return self._text(data, "authors").strip()

    def _time(self, data: dict[str, Any], key: str, required: bool = False) -> datetime | None:
        value = data.get(key)
        if value in (None, ""):
            if required:
                raise ImportRowError(f"missing {key}")
            return None
        if not isinstance(value, str):
            raise ImportRowError(f"{key} must be an ISO 8601 string")
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ImportRowError(f"{key} is not an ISO 8601 date: {value!r}") from None
        return as_utc(parsed, self.zone)

    def _views(self, data: dict[str, Any]) -> int:
        value = data.get("views", 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ImportRowError(f"views must be a whole number, got {value!r}")
        if value < 0:
            raise ImportRowError(f"views must not be negative, got {value}")
        return value

    def _priority(self, data: dict[str, Any]) -> int:
        value = data.get("priority", 0)
        if isinstance(value, str) and value.strip().lower() in _PRIORITY_NAMES:
            return _PRIORITY_NAMES[value.strip().lower()]
        if isinstance(value, int) and not isinstance(value, bool) and value in set(Priority):
            return value
        raise ImportRowError(
            f"priority must be 0, 1 or 2 (normal, recommended, headline), got {value!r}"
        )

    def _status(self, data: dict[str, Any]) -> str:
        value = data.get("status", "published")
        if value not in _STATUSES:
            raise ImportRowError(f"status must be published, draft or deleted, got {value!r}")
        return str(value)


def import_lines(
    store: Store,
    lines: Iterator[tuple[int, bytes]],
    parser: RowParser,
    clock: Clock,
    *,
    batch_size: int = 2000,
    report_bad: Callable[[str], None],
    advance: Callable[[int], None] = lambda n: None,
) -> ImportReport:
    """Parse numbered raw lines and upsert the good rows in batches of ``batch_size``."""
    report = ImportReport()
    batch: list[dict[str, Any]] = []
    pending_bytes = 0
    for number, raw in lines:
        pending_bytes += len(raw)
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        if not raw.strip():
            continue
        report.rows += 1
        try:
            batch.append(parser.parse(raw.decode("utf-8")))
        except UnicodeDecodeError:
            report.bad += 1
            report_bad(f"line {number}: not valid UTF-8")
        except ImportRowError as exc:
            report.bad += 1
            report_bad(f"line {number}: {exc}")
        if len(batch) >= batch_size:
            _flush(store, batch, clock, report)
            advance(pending_bytes)
            pending_bytes = 0
    _flush(store, batch, clock, report)
    advance(pending_bytes)
    return report


def _flush(store: Store, batch: list[dict[str, Any]], clock: Clock, report: ImportReport) -> None:
    if batch:
        with store.write() as conn:
            report.counts.add(upsert_articles(conn, batch, clock()))
        batch.clear()


def import_file(
    store: Store,
    source: str,
    *,
    zone: tzinfo,
    clock: Clock,
    batch_size: int = 2000,
    report_bad: Callable[[str], None],
    show_progress: bool = True,
) -> ImportReport:
    """Import the JSON Lines file ``source`` (``-`` = standard input) into ``store``.

    Raises:
        UsageError: the file cannot be opened.
    """
    with store.read() as conn:
        sections = list_sections(conn)
    if not sections:
        raise UsageError("the store has no sections; add [[sections]] to the config first")
    keys = {s.slug: s.slug for s in sections} | {s.name: s.slug for s in sections}
    parser = RowParser(keys, zone)
    stream, total = _open(source)
    try:
        with progress("importing", total=total, unit="bytes", enabled=show_progress) as bar:
            numbered = enumerate(stream, start=1)
            return import_lines(
                store,
                numbered,
                parser,
                clock,
                batch_size=batch_size,
                report_bad=report_bad,
                advance=bar.advance,
            )
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _open(source: str) -> tuple[IO[bytes], int | None]:
    if source == "-":
        return sys.stdin.buffer, None
    path = Path(source)
    try:
        return path.open("rb"), path.stat().st_size
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
