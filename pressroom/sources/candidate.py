"""What a source's reader hands the sync: one row, named by its key, in the JSON shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["EPOCH", "Candidate", "Reader"]

EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
"""Where a full pass starts reading: before any time a CMS tracks. Not 1970: an archive's
articles of the 1960s are read too (a CMS that keeps Unix seconds gets ``:since_epoch`` 0)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One source row: ``key`` names it in messages (``id=42``); ``values`` are the article's
    fields in the importer's JSON shape (times as text, or as datetimes where the reader has
    them so), or None with ``skip`` saying why it is left out."""

    key: str
    values: dict[str, Any] | None
    skip: str | None = None
    clean: bool = False
    """The reader made sure no text value holds a NUL or a lone surrogate (so the
    parser's scan for them is skipped, as the importer skips it for a line without
    escapes)."""


class Reader(Protocol):
    """A source's rows changed since a time, in batches."""

    def batches(self, since: datetime) -> Iterator[list[Candidate]]:
        """Rows whose tracked time is at or after ``since`` (aware UTC)."""
        ...

    def close(self) -> None:
        """Let go of the source's connections."""
        ...
