"""Articles a CMS pushes (``POST``/``DELETE /api/articles``): the importer's checks, one
report per request with an error per bad item by its index.

The web route decodes the body (a JSON object, an array, or JSON Lines) and hands the items
here; each is checked by :meth:`pressroom.importer.RowParser.check` exactly as a line of
``pressroom import`` is, good items are upserted by URL in one write (a later item with the
same URL wins), and a row the store refuses is reported by its index like a bad one.

An article has one owner: a URL that a SQL or WordPress source wrote is that source's
(its next sync would undo a change made here, or keep a withdrawal the CMS never made),
so the API reports such an item as bad and refuses to withdraw such an article. Good items
are written :data:`WRITE_CHUNK` at a time, so no statement outgrows PostgreSQL's 65,535
parameters whatever a request holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from pressroom.clock import Clock
from pressroom.errors import ImportRowError
from pressroom.importer import RowParser
from pressroom.store.articles import UpsertCounts, upsert_articles, withdraw_articles
from pressroom.store.bulk import write_bisecting
from pressroom.store.engine import Store
from pressroom.store.notify import notify_articles
from pressroom.store.sources import owners

__all__ = ["WRITE_CHUNK", "IngestReport", "OwnedBySource", "ingest_articles", "withdraw_article"]

WRITE_CHUNK = 1000
"""Articles per write transaction (and per ``IN`` list): far below any database's limit."""


class OwnedBySource(ImportRowError):
    """The article at a URL was written by a configured source, which alone may change it."""

    def __init__(self, url_source: str) -> None:
        super().__init__(
            f"the article at this url comes from source {url_source}; change or withdraw it "
            "in that source's database (its next sync would undo this)"
        )


Item = tuple[int, dict[str, Any]]


@dataclass
class IngestReport:
    """What one request stored, and why each bad item was not."""

    counts: UpsertCounts = field(default_factory=UpsertCounts)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The response body: ``stored`` (new or changed), ``unchanged``, ``errors``."""
        c = self.counts
        return {
            "stored": c.inserted + c.updated,
            "unchanged": c.unchanged,
            "errors": [{"index": i, "error": e} for i, e in sorted(self.errors)],
        }


def ingest_articles(
    store: Store, parser: RowParser, items: Sequence[tuple[int, Any]], clock: Clock
) -> IngestReport:
    """Check ``(index, decoded JSON value)`` items and upsert the good ones.

    Raises:
        StoreError: the store failed (nothing of this request is stored).
    """
    report = IngestReport()
    good: dict[str, Item] = {}
    for index, value in items:
        try:
            if not isinstance(value, dict):
                raise ImportRowError("not a JSON object")
            row = parser.check(value)
        except ImportRowError as exc:
            report.errors.append((index, str(exc)))
            continue
        good.pop(row["url"], None)
        good[row["url"]] = (index, row)
    now = clock()
    _drop_owned(store, good, report)

    def write(conn: Connection, part: Sequence[Item]) -> UpsertCounts:
        notify_articles(conn)  # PostgreSQL: wakes a watching worker when this commits
        return upsert_articles(conn, [row for _, row in part], now)

    def refused(item: Item, reason: str) -> None:
        report.errors.append((item[0], f"the store refused the row ({reason})"))

    wanted = list(good.values())
    for start in range(0, len(wanted), WRITE_CHUNK):
        chunk = wanted[start : start + WRITE_CHUNK]
        for counts in write_bisecting(store, chunk, write, refused):
            report.counts.add(counts)
    return report


def _drop_owned(store: Store, good: dict[str, Item], report: IngestReport) -> None:
    """Take out of ``good`` (reported as errors) the items whose URL a source owns."""
    urls = list(good)
    with store.read() as conn:
        owned = owners(conn, urls)
    for url, name in owned.items():
        index, _ = good.pop(url)
        report.errors.append((index, str(OwnedBySource(name))))


def withdraw_article(store: Store, url: str, clock: Clock) -> int:
    """Take the article at ``url`` out of every feed (status ``deleted``); 1, or 0 if none.

    Raises:
        OwnedBySource: a configured source wrote the article (nothing is changed).
        StoreError: the store failed.
    """
    with store.write() as conn:
        owned = owners(conn, [url])
        if owned:
            raise OwnedBySource(owned[url])
        notify_articles(conn)
        return withdraw_articles(conn, [url], clock())
