"""``kind = "sql"``: the operator's SELECT, returning pressroom's article columns by name.

The query takes ``:since`` (the watermark minus the overlap) and may use ``:since_epoch``
(the same moment in Unix seconds, for CMSs that keep times as integers: DedeCMS, PHPCMS).
``:since`` is bound as the database compares it: a naive time in the source's zone on
MariaDB/MySQL, text (``YYYY-MM-DD HH:MM:SS``) on SQLite, an aware time on PostgreSQL.
Columns the query leaves out take the importer's defaults; an ``id`` column, if any,
names the row in messages. A column that is no article field, a column named twice, or
a query without one of the required columns (``url``, ``section``, ``title``,
``published_at``) stops the sync with one sentence naming it, before anything is written:
a typo would otherwise drop a field silently, or make every row a bad row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from pressroom.errors import SourceError
from pressroom.incoming import show
from pressroom.sources.candidate import Candidate
from pressroom.sources.reader import SourceDatabase
from pressroom.sources.values import json_shape
from pressroom.store.articles import ARTICLE_FIELDS

__all__ = ["SqlReader", "since_params"]

_COLUMNS = frozenset(ARTICLE_FIELDS) | {"id"}
_REQUIRED = ("url", "section", "title", "published_at")


def since_params(dialect: str, since: datetime, zone: tzinfo) -> dict[str, Any]:
    """``:since`` and ``:since_epoch`` for ``since`` (aware), as ``dialect`` compares them."""
    local = since.astimezone(zone)
    value: Any = local.replace(tzinfo=None)
    if dialect == "postgresql":
        value = local
    elif dialect == "sqlite":
        value = local.strftime("%Y-%m-%d %H:%M:%S")
    # never negative: CMSs keep Unix times unsigned, and FROM_UNIXTIME(-1) is NULL
    return {"since": value, "since_epoch": max(0, int(since.timestamp()))}


class SqlReader:
    """Reads a ``kind = "sql"`` source."""

    def __init__(
        self, name: str, db: SourceDatabase, query: str, zone: tzinfo, *, batch: int = 2000
    ) -> None:
        """``zone`` is the zone of the query's times without an offset."""
        self.name, self.db, self.query, self.zone, self.batch = name, db, query, zone, batch

    def batches(self, since: datetime) -> Iterator[list[Candidate]]:
        """The query's rows for ``since``, checked for unknown columns, in batches."""
        params = since_params(self.db.dialect, since, self.zone)
        ordinal = 0
        with self.db.connect() as conn:
            for rows in self.db.stream(conn, self.query, params, self.batch):
                if ordinal == 0 and rows:
                    self._check_columns(rows[0])
                out = []
                for row in rows:
                    ordinal += 1
                    out.append(Candidate(_key(row, ordinal), json_shape(row, self.zone)))
                yield out

    def close(self) -> None:
        """Close the source's connections."""
        self.db.close()

    def _check_columns(self, row: dict[str, Any]) -> None:
        unknown = sorted(set(row) - _COLUMNS)
        if unknown:
            fields = ", ".join(ARTICLE_FIELDS)
            raise SourceError(
                f"source {self.name}: the query returns column {show(unknown[0])}, which is not "
                f"an article field (name the columns {fields} with AS)"
            )
        missing = [name for name in _REQUIRED if name not in row]
        if missing:
            raise SourceError(
                f"source {self.name}: the query returns no {missing[0]} column, which every "
                f"article needs (name the columns {', '.join(_REQUIRED)} with AS)"
            )


def _key(row: dict[str, Any], ordinal: int) -> str:
    if row.get("id") is not None:
        return f"id={row['id']}"
    if isinstance(row.get("url"), str):
        return f"url={show(row['url'])}"
    return f"#{ordinal}"
