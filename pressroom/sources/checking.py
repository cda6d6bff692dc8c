"""A batch of source rows checked: the rows to write, and what the checks found.

:func:`check_batch` has no side effects and needs nothing but the batch and the parser, so
it runs in the sync's own process or in a helper process (:mod:`pressroom.sources.fanout`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pressroom.errors import ImportRowError
from pressroom.importer import RowParser
from pressroom.sources.candidate import Candidate
from pressroom.sources.values import content_hash

__all__ = ["BatchTally", "Checked", "CheckedBatch", "check_batch"]

Checked = tuple[str, dict[str, Any], str]
"""A row that passed the checks: its key (for messages), its checked values, their hash."""


@dataclass(slots=True)
class BatchTally:
    """What the checks of one batch found, without the rows themselves."""

    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Rows the reader left out, by why."""
    bad: list[str] = field(default_factory=list)
    """One message per row the checks refused (``source NAME: row KEY: reason``)."""
    urls: list[str] = field(default_factory=list)
    """The URL of every row still in the source, bad rows' too (never withdrawn for them)."""
    newest: datetime | None = None
    """The newest change time among the rows that passed."""


@dataclass(slots=True)
class CheckedBatch:
    """One batch after the checks: the rows to write (one per URL) and the tally."""

    checked: list[Checked]
    tally: BatchTally


def check_batch(batch: Sequence[Candidate], parser: RowParser, source: str) -> CheckedBatch:
    """Check each row of ``batch`` as the importer checks a line, and hash what passed.

    A later row of the batch with the same URL wins.
    """
    tally = BatchTally(rows=len(batch))
    checked: dict[str, Checked] = {}
    for row in batch:
        if row.values is None:
            tally.skipped[row.skip or "left out"] += 1
            continue
        try:
            values = parser.check(dict(row.values), texts=not row.clean)
        except ImportRowError as exc:
            tally.bad.append(f"source {source}: row {row.key}: {exc}")
            url = row.values.get("url")
            if isinstance(url, str):
                tally.urls.append(url.strip())
            continue
        checked.pop(values["url"], None)
        checked[values["url"]] = (row.key, values, content_hash(values))
        changed = values["updated_at"] or values["published_at"]
        if tally.newest is None or changed > tally.newest:
            tally.newest = changed
    tally.urls.extend(checked)
    return CheckedBatch(list(checked.values()), tally)
