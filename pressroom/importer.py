"""``pressroom import``: load articles from JSON Lines, upserting by URL.

Rows stream through in batches (bounded memory at any file size); each batch is one
write transaction. A bad row is reported as ``line N: reason`` and skipped; good rows are
kept. Every value is checked before it reaches the store (:mod:`pressroom.incoming`); a
batch the store still refuses is split until the refused row is found
(:func:`pressroom.store.bulk.write_bisecting`). A URL met again later in the file is
reported (``line N: same url as line M; the later row wins``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import IO, Any

from pressroom.clock import Clock, as_utc
from pressroom.errors import ImportRowError, UsageError
from pressroom.incoming import (
    MAX_INT,
    chunked,
    numbered_lines,
    parsed_ahead,
    show,
    text_problem,
    time_problem,
)
from pressroom.line_index import LineIndex
from pressroom.models import ArticleStatus
from pressroom.progress import progress
from pressroom.store.articles import (
    ARTICLE_FIELDS,
    UpsertCounts,
    list_sections,
    upsert_articles,
)
from pressroom.store.bulk import write_bisecting
from pressroom.store.engine import Store
from pressroom.store.notify import notify_articles

__all__ = ["ImportReport", "RowParser", "import_file", "import_lines", "url_problem"]

_PRIORITY_NAMES = {
    "normal": 0,
    "recommended": 1,
    "headline": 2,
    "普通": 0,
    "推荐": 1,
    "头条": 2,
}
_STATUSES = frozenset(s.value for s in ArticleStatus)
# No whitespace and no control character (C0, DEL, C1) anywhere: a URL is written into
# feeds, mails and terminals, where an ESC or a CR would be read as something else.
_ABSOLUTE_URL = re.compile(
    r"https?://[^/\s?#\x00-\x1f\x7f-\x9f]+([/?#][^\s\x00-\x1f\x7f-\x9f]*)?", re.IGNORECASE
)
_KNOWN_FIELDS = frozenset(ARTICLE_FIELDS) | {"id"}
# URLs are unique-indexed; a PostgreSQL B-tree entry holds at most ~2,700 bytes.
_MAX_URL_BYTES = 2048
_MAX_CHARS = {"title": 1000, "authors": 1000, "summary": 100_000}
_TEXT_FIELDS = ("url", "section", "title", "summary", "body_html", "authors", "image_url")
_TEXT_CHECKED = (*_TEXT_FIELDS, "updated_at", "published_at", "priority", "status")


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    bad: int = 0
    duplicates: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)

    def summary(self) -> str:
        """One line: rows read, new, updated, unchanged, repeated urls, bad."""
        c = self.counts
        text = f"{self.rows} rows: {c.inserted} new, {c.updated} updated, {c.unchanged} unchanged"
        if self.duplicates:
            noun = "url" if self.duplicates == 1 else "urls"
            text += f", {self.duplicates} repeated {noun} (the later row won)"
        return text + (f", {self.bad} bad rows skipped" if self.bad else "")


class RowParser:
    """Turns one JSON object into a validated article row, or raises ImportRowError."""

    def __init__(self, sections: Mapping[str, str], zone: tzinfo) -> None:
        """``sections`` maps every accepted section key (slug and name) to its slug."""
        self.sections = sections
        self.zone = zone

    def parse(self, line: str) -> dict[str, Any]:
        """Validate one JSON Lines line; raise ImportRowError with the reason."""
        data = _load(line)
        if not isinstance(data, dict):
            raise ImportRowError("not a JSON object")
        # NUL and lone surrogates reach a JSON string only as escapes
        return self.check(data, texts="\\u" in line)

    def check(self, data: dict[str, Any], *, texts: bool = True) -> dict[str, Any]:
        """Validate one article given in the JSON shape (times as ISO 8601 strings, or as
        datetimes where a source read them as such: naive ones are in the parser's zone).

        What every other way in (a SQL source, the ingest API) calls after decoding its
        values; ``texts=False`` skips the NUL and surrogate checks (a line without escapes).

        Raises:
            ImportRowError: a value is missing or wrong; the message says which and why.
        """
        if not _KNOWN_FIELDS.issuperset(data):
            unknown = sorted(set(data) - _KNOWN_FIELDS)
            raise ImportRowError(f"unknown field {show(unknown[0])}")
        if texts:
            _check_texts(data)
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
            raise ImportRowError(f"{key} must be a string, got {show(value)}")
        if required and not value.strip():
            raise ImportRowError(f"{key} is empty")
        limit = _MAX_CHARS.get(key)
        if limit is not None and len(value) > limit:
            raise ImportRowError(f"{key} is longer than {limit:,} characters ({len(value):,})")
        return value.strip() if key in ("title", "url", "image_url") else value

    def _url(self, data: dict[str, Any], key: str, required: bool = False) -> str:
        value = self._text(data, key, required)
        problem = url_problem(value) if value else None
        if problem:
            raise ImportRowError(f"{key} {problem}")
        return value

    def _section(self, data: dict[str, Any]) -> str:
        key = self._text(data, "section", required=True)
        slug = self.sections.get(key) or self.sections.get(key.lower())
        if slug is None:
            raise ImportRowError(f"unknown section {show(key)}")
        return slug

    def _authors(self, data: dict[str, Any]) -> str:
        value = data.get("authors")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ";".join(v.strip() for v in value if v.strip())
            data = {"authors": value}
        return self._text(data, "authors").strip()

    def _time(self, data: dict[str, Any], key: str, required: bool = False) -> datetime | None:
        value = data.get(key)
        if value in (None, ""):
            if required:
                raise ImportRowError(f"missing {key}")
            return None
        if not isinstance(value, str | datetime):
            raise ImportRowError(f"{key} must be an ISO 8601 string, got {show(value)}")
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
            parsed = moment if moment.tzinfo is UTC else as_utc(moment, self.zone)
        except ValueError:
            raise ImportRowError(f"{key} is not an ISO 8601 date: {show(value)}") from None
        except OverflowError:
            raise ImportRowError(f"{key} is out of range once converted to UTC") from None
        problem = time_problem(parsed)
        if problem:
            raise ImportRowError(f"{key} {problem}")
        return parsed

    def _views(self, data: dict[str, Any]) -> int:
        value = data.get("views", 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ImportRowError(f"views must be a whole number, got {show(value)}")
        if value < 0:
            raise ImportRowError(f"views must not be negative, got {show(value)}")
        if value > MAX_INT:
            raise ImportRowError(f"views must be at most {MAX_INT:,}, got {show(value)}")
        return value

    def _priority(self, data: dict[str, Any]) -> int:
        value = data.get("priority", 0)
        if isinstance(value, str) and value.strip().lower() in _PRIORITY_NAMES:
            return _PRIORITY_NAMES[value.strip().lower()]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2:
            return value
        raise ImportRowError(
            f"priority must be 0, 1 or 2 (normal, recommended, headline), got {show(value)}"
        )

    def _status(self, data: dict[str, Any]) -> str:
        value = data.get("status", "published")
        if not isinstance(value, str) or value not in _STATUSES:
            raise ImportRowError(f"status must be published, draft or deleted, got {show(value)}")
        return value


def url_problem(value: str) -> str | None:
    """Why ``value`` is no article URL (``"is longer than ..."``), or None when it is one."""
    # a character is at most 4 bytes: only a longer text is encoded to be measured
    if (
        len(value) * 4 > _MAX_URL_BYTES
        and len(value.encode("utf-8", "surrogatepass")) > _MAX_URL_BYTES
    ):
        return f"is longer than {_MAX_URL_BYTES:,} bytes"
    if not _ABSOLUTE_URL.fullmatch(value):
        return f"must be an absolute http(s) URL, got {show(value)}"
    return None


def _load(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ImportRowError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ImportRowError("not valid JSON (nested too deeply)") from None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        raise ImportRowError("not valid JSON (a number with too many digits)") from None


def _check_texts(data: dict[str, Any]) -> None:
    texts = []
    for key in _TEXT_CHECKED:
        value = data.get(key)
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts.extend(item for item in value if isinstance(item, str))
    if text_problem("".join(texts)) is None:  # one scan; the value is found only if needed
        return
    for key in _TEXT_CHECKED:
        value = data.get(key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            problem = isinstance(item, str) and text_problem(item)
            if problem:
                raise ImportRowError(f"{key} {problem}")


Numbered = tuple[int, dict[str, Any]]
Line = tuple[int, bytes | None]
ParsedLine = tuple[int, dict[str, Any] | None, str | None]  # a row, or a reason, or blank
BACKGROUND_BYTES = 4_000_000  # larger inputs are parsed in a helper process


def import_lines(
    store: Store,
    lines: Iterator[Line],
    parser: RowParser,
    clock: Clock,
    *,
    batch_size: int = 2000,
    report_bad: Callable[[str], None],
    advance: Callable[[int], None] = lambda n: None,
    background: bool = False,
) -> ImportReport:
    """Parse numbered raw lines and upsert the good rows in batches of ``batch_size``.

    A line given as None was too long to read (:func:`pressroom.incoming.numbered_lines`).
    ``background`` parses in a helper process while batches are written
    (:func:`pressroom.incoming.parsed_ahead`); the outcome is the same.

    Raises:
        StoreError: the store itself failed; the batches before are committed.
    """
    report = ImportReport()
    seen = LineIndex()
    try:
        chunks = chunked(lines, batch_size)
        for size, parsed in parsed_ahead(
            chunks, partial(_parse_chunk, parser), background=background
        ):
            batch: list[Numbered] = []
            for number, row, reason in parsed:
                if row is not None:
                    report.rows += 1
                    batch.append((number, row))
                elif reason is not None:
                    report.rows += 1
                    report.bad += 1
                    report_bad(f"line {number}: {reason}")
            _flush(store, batch, clock, report, seen, report_bad)
            advance(size)
    finally:
        seen.close()
    return report


def _parse_chunk(parser: RowParser, chunk: list[Line]) -> tuple[int, list[ParsedLine]]:
    """The parsed lines of ``chunk`` and its size in bytes (runs in the helper process)."""
    return sum(len(raw) for _, raw in chunk if raw), [
        _parse_line(n, raw, parser) for n, raw in chunk
    ]


def _parse_line(number: int, raw: bytes | None, parser: RowParser) -> ParsedLine:
    if raw is not None:
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        if not raw.strip():
            return number, None, None
    try:
        if raw is None:
            raise ImportRowError("longer than 16 MB")
        return number, parser.parse(raw.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        assert raw is not None
        return (
            number,
            None,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})",
        )
    except ImportRowError as exc:
        return number, None, str(exc)


def _flush(
    store: Store,
    batch: list[Numbered],
    clock: Clock,
    report: ImportReport,
    seen: LineIndex,
    report_bad: Callable[[str], None],
) -> None:
    if not batch:
        return
    earlier = seen.earlier([(row["url"], number) for number, row in batch])
    latest: dict[str, Numbered] = {}
    for number, row in batch:
        if number in earlier:
            report.duplicates += 1
            report_bad(f"line {number}: same url as line {earlier[number]}; the later row wins")
        latest.pop(row["url"], None)
        latest[row["url"]] = (number, row)
    now = clock()

    def write(conn: Any, part: Any) -> UpsertCounts:
        notify_articles(conn)  # PostgreSQL: wakes a watching worker when this commits
        return upsert_articles(conn, [row for _, row in part], now)

    def refused(item: Numbered, reason: str) -> None:
        report.bad += 1
        report_bad(f"line {item[0]}: the store refused the row ({reason})")

    for counts in write_bisecting(store, list(latest.values()), write, refused):
        report.counts.add(counts)
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
            return import_lines(
                store,
                numbered_lines(stream),
                parser,
                clock,
                batch_size=batch_size,
                report_bad=report_bad,
                advance=bar.advance,
                background=total is None or total > BACKGROUND_BYTES,
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
