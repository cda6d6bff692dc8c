"""Which line of an import file last held each key (an article's URL, a mailbox), and the
set of keys a source's full pass saw (:class:`KeySet`).

Importers (:mod:`pressroom.importer`, :mod:`pressroom.subscribers.roster`) report a
repeated key by the line that held it before. :class:`LineIndex` keeps that on a private
temporary SQLite database of its own (not the store), so finding duplicates over a file
of a million rows keeps memory flat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["KeySet", "LineIndex"]

_INDEX_CACHE_KB = 16 * 1024  # ~700,000 keys in memory; beyond, pages spill to the file


class LineIndex:
    """The last line of one file that held each key, on disk (deleted when closed)."""

    def __init__(self) -> None:
        # "" opens a private temporary database; it spills to disk beyond its cache.
        self._db = sqlite3.connect("")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute(f"PRAGMA cache_size=-{_INDEX_CACHE_KB}")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key INTEGER PRIMARY KEY, line INTEGER NOT NULL)")

    def earlier(self, keyed: Sequence[tuple[str, int]]) -> dict[int, int]:
        """Record ``(key, line)`` pairs in file order; return ``{line: earlier line}``.

        The earlier line is the last one before ``line`` that held the same key (in an
        earlier call or earlier in this one). Keys are compared by a 64-bit hash: a
        collision (odds ~1e-8 in a file of a million rows) reports a duplicate that is
        not one, and loses nothing.
        """
        hashed = [(hash(key), line) for key, line in keyed]
        last: dict[int, int] = {}
        distinct = sorted({h for h, _ in hashed})  # in key order: B-tree pages in sequence
        for start in range(0, len(distinct), 30_000):
            chunk = distinct[start : start + 30_000]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, line FROM seen WHERE key IN ({marks})"
            last.update(self._db.execute(query, chunk).fetchall())
        found: dict[int, int] = {}
        for h, line in hashed:
            if h in last:
                found[line] = last[h]
            last[h] = line
        with self._db:  # one transaction: autocommit would write the pages per row
            self._db.executemany(
                "INSERT OR REPLACE INTO seen (key, line) VALUES (?, ?)",
                [(h, last[h]) for h in distinct],
            )
        return found

    def close(self) -> None:
        """Delete the index."""
        self._db.close()


class KeySet:
    """A set of text keys on disk (the URLs a source's full pass saw): memory stays flat at
    any size (:mod:`pressroom.sources.sync` withdraws the articles whose URL it lacks)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # a private temporary database, deleted on close
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute(f"PRAGMA cache_size=-{_INDEX_CACHE_KB}")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, keys: Sequence[str]) -> None:
        """Add ``keys``."""
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?)", [(k,) for k in keys])

    def missing(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` not added, in their order."""
        present: set[str] = set()
        for start in range(0, len(keys), 30_000):
            chunk = keys[start : start + 30_000]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key FROM keys WHERE key IN ({marks})"
            present.update(k for (k,) in self._db.execute(query, chunk))
        return [k for k in keys if k not in present]

    def close(self) -> None:
        """Delete the set."""
        self._db.close()
