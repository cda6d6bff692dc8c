"""Writing a checked batch to the store: only the rows whose content changed.

A row is written when the hash of its checked values differs from the one stored for its
URL (``source_rows``); rows read again unchanged cost no write at all (the feeds watch
sees no commit). A row that is not published and was never written is left out (drafts
stay in the CMS). A row the store refuses on its own costs that row, never the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from pressroom.models import ArticleStatus
from pressroom.sources.checking import Checked
from pressroom.store.articles import UpsertCounts, upsert_articles
from pressroom.store.bulk import write_bisecting
from pressroom.store.engine import Store
from pressroom.store.notify import notify_articles
from pressroom.store.sources import known_hashes, save_hashes

__all__ = ["Written", "write_checked"]

_PUBLISHED = ArticleStatus.PUBLISHED.value


@dataclass(slots=True)
class Written:
    """What writing one or more batches did."""

    counts: UpsertCounts = field(default_factory=UpsertCounts)
    unchanged: int = 0
    """Rows whose hash was the stored one (no write)."""
    not_published: int = 0
    """Rows never written and not published now (left out)."""
    refused: list[str] = field(default_factory=list)
    """One message per row the store refused."""

    def add(self, other: Written) -> None:
        """Add ``other``'s counts and messages into these."""
        self.counts.add(other.counts)
        self.unchanged += other.unchanged
        self.not_published += other.not_published
        self.refused.extend(other.refused)


def write_checked(store: Store, source: str, checked: Sequence[Checked], now: datetime) -> Written:
    """Write the rows of ``checked`` whose content changed, as source ``source`` (see above).

    Raises:
        StoreError: the store itself failed (one sentence, no SQL).
    """
    written = Written()
    if not checked:
        return written
    with store.read() as conn:
        known = known_hashes(conn, source, [values["url"] for _, values, _ in checked])
    wanted: list[Checked] = []
    for item in checked:
        _, values, digest = item
        stored = known.get(values["url"])
        if stored == digest:
            written.unchanged += 1
        elif stored is None and values["status"] != _PUBLISHED:
            written.not_published += 1
        else:
            wanted.append(item)

    def write(conn: Connection, part: Sequence[Checked]) -> UpsertCounts:
        notify_articles(conn)  # PostgreSQL: wakes a watching worker when this commits
        counts = upsert_articles(conn, [values for _, values, _ in part], now)
        save_hashes(conn, source, {values["url"]: digest for _, values, digest in part})
        return counts

    def refused(item: Checked, reason: str) -> None:
        written.refused.append(
            f"source {source}: row {item[0]}: the store refused the row ({reason})"
        )

    for counts in write_bisecting(store, wanted, write, refused):
        written.counts.add(counts)
    return written
