"""``source_state`` and ``source_rows``: what each article source has synced.

A source's sync (:mod:`pressroom.sources.sync`) keeps, per article URL, a hash of the
values it last wrote: a row read again with the same hash costs no write, so re-reading
the overlap window, or a whole CMS on a full pass, writes only what changed. The caller
owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pressroom.store.bulk import execute_many, rows_in
from pressroom.store.schema import source_rows, source_state

__all__ = [
    "SourceState",
    "forget_rows",
    "has_rows",
    "known_hashes",
    "owners",
    "read_state",
    "save_hashes",
    "source_urls",
    "write_state",
]

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SourceState:
    """Where a source's syncs stand: ``watermark`` (newest change time read), ``full_at``."""

    watermark: datetime | None = None
    full_at: datetime | None = None


def read_state(conn: Connection, name: str) -> SourceState:
    """The state of source ``name`` (empty before its first sync)."""
    row = conn.execute(select(source_state).where(source_state.c.name == name)).first()
    return SourceState() if row is None else SourceState(row.watermark, row.full_at)


def write_state(conn: Connection, name: str, state: SourceState) -> None:
    """Record ``state`` for source ``name``."""
    values = {"watermark": state.watermark, "full_at": state.full_at}
    done = conn.execute(update(source_state).where(source_state.c.name == name).values(values))
    if done.rowcount == 0:
        conn.execute(source_state.insert().values(name=name, **values))


def has_rows(conn: Connection, source: str) -> bool:
    """Whether source ``source`` has written any row."""
    query = select(source_rows.c.url).where(source_rows.c.source == source).limit(1)
    return conn.execute(query).first() is not None


def known_hashes(conn: Connection, source: str, urls: Sequence[str]) -> dict[str, str]:
    """The stored hash of each of ``urls`` that source ``source`` wrote before."""
    found = rows_in(conn, source_rows, ("url", "content_hash"), "url", urls, {"source": source})
    return dict(found)


def owners(conn: Connection, urls: Sequence[str]) -> dict[str, str]:
    """The source that wrote each of ``urls`` (those no source wrote are left out).

    Asked source by source (``source_state`` names every source that ever synced), so each
    lookup is a scan of ``source_rows``'s primary key, never of the whole table.
    """
    names = list(conn.execute(select(source_state.c.name).order_by(source_state.c.name)).scalars())
    found: dict[str, str] = {}
    for name in names:
        for url in known_hashes(conn, name, urls):
            found.setdefault(url, name)
    return found


def save_hashes(conn: Connection, source: str, hashes: Mapping[str, str]) -> None:
    """Insert or replace the hash of each URL in ``hashes`` for ``source``."""
    if not hashes:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(source_rows)
    statement = insert.on_conflict_do_update(
        index_elements=[source_rows.c.source, source_rows.c.url],
        set_={"content_hash": insert.excluded.content_hash},
    )
    rows = [{"source": source, "url": u, "content_hash": h} for u, h in hashes.items()]
    execute_many(conn, statement, rows)


def source_urls(conn: Connection, source: str, *, page: int = 5000) -> Iterator[list[str]]:
    """Every URL ``source`` wrote, in pages of ``page``, in URL order (keyset paging)."""
    after = ""
    while True:
        query = (
            select(source_rows.c.url)
            .where(source_rows.c.source == source, source_rows.c.url > after)
            .order_by(source_rows.c.url)
            .limit(page)
        )
        urls = list(conn.execute(query).scalars())
        if not urls:
            return
        yield urls
        after = urls[-1]


def forget_rows(conn: Connection, source: str, urls: Sequence[str]) -> None:
    """Drop the hashes of ``urls`` for ``source`` (rows that left the source)."""
    for start in range(0, len(urls), _IN_CHUNK):
        conn.execute(
            delete(source_rows).where(
                source_rows.c.source == source,
                source_rows.c.url.in_(urls[start : start + _IN_CHUNK]),
            )
        )
