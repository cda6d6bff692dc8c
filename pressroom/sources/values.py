"""A database row's values in the importer's JSON shape, so one set of checks serves all.

:class:`pressroom.importer.RowParser` checks articles given as JSON values (text, whole
numbers, ISO 8601 times). A database hands over ``datetime`` (naive or aware), ``date``,
``Decimal``, ``bytes`` and Unix timestamps (DedeCMS and PHPCMS keep times as integers);
this module turns each into what the parser reads, and nothing else: whether a value is
acceptable is the parser's business.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

__all__ = ["TIME_FIELDS", "content_hash", "json_shape", "source_time"]

TIME_FIELDS = ("published_at", "updated_at")
_ZERO_DATES = ("0000-00-00 00:00:00", "0000-00-00")  # MySQL's "no date" (WordPress drafts)


def source_time(value: Any, zone: tzinfo) -> datetime | None:
    """A time column's value as an aware datetime: naive in ``zone``, numbers as Unix seconds.

    Text is left to the parser unless it is MySQL's zero date (None). Returns None for
    None, zero dates and values that are not times.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone)
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None  # NaN, Infinity: PostgreSQL numeric holds them; no time
    if isinstance(value, int | Decimal) and 0 < value < 253_402_214_400:
        return datetime.fromtimestamp(int(value), UTC)
    return None


def json_shape(row: Mapping[str, Any], zone: tzinfo) -> dict[str, Any]:
    """``row`` with each value as JSON would carry it (see the module docstring)."""
    shaped: dict[str, Any] = {}
    for key, value in row.items():
        if key in TIME_FIELDS:
            if isinstance(value, str) and value.strip() in _ZERO_DATES:
                value = None
            elif not isinstance(value, str):
                moment = source_time(value, zone)
                value = moment.isoformat() if moment is not None else value
        shaped[key] = _plain(value)
    return shaped


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)  # not text: the parser reports it as "must be a string"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)  # NaN, Infinity: the parser reports it ("must be a whole number")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def content_hash(row: Mapping[str, Any]) -> str:
    """A 32-character hash of a checked article row (what decides whether it is written).

    Over its values in key order, each tagged with its type, text with its length (so no
    value can run into the next): a checked row holds only text, whole numbers, None and
    aware UTC datetimes. Text goes in as it is, with no ``repr`` escaping (which cost more
    than the rest of a row's checks on a long body).
    """
    parts = []
    for key in sorted(row):
        value = row[key]
        if isinstance(value, str):
            parts.append(f"{key}:s{len(value)}:{value}")
        elif isinstance(value, datetime):
            parts.append(f"{key}:t{value.isoformat()}")
        else:
            parts.append(f"{key}:{value!r}")
    text = "\n".join(parts)
    try:
        data = text.encode()  # the error handler's slow path only where it is needed
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    # SHA-256 (cut to 128 bits) is the fastest of hashlib's on CPUs with SHA extensions
    return hashlib.sha256(data).hexdigest()[:32]
