"""Checks every importer applies to values before they reach the store.

The store runs on SQLite and PostgreSQL, and each refuses different things: PostgreSQL
text cannot hold NUL, its ``integer`` ends at 2**31-1, SQLite's at 2**63-1, neither can
encode a lone UTF-16 surrogate (which JSON's ``\\ud800`` escape produces), and a time
near year 1 or 9999 overflows when converted between zones. An importer checks each value
here, uniformly for both backends, so a bad value is reported by its line instead of
failing the batch it is in.

Also: reading a file as numbered lines of bounded length (memory stays flat whatever a
line holds), and showing a bad value in a message without flooding the terminal.
"""

from __future__ import annotations

import multiprocessing
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import IO, TypeVar

__all__ = [
    "MAX_INT",
    "MAX_LINE_BYTES",
    "MAX_TIME",
    "MIN_TIME",
    "chunked",
    "numbered_lines",
    "parsed_ahead",
    "printable",
    "show",
    "text_problem",
    "time_problem",
]

MAX_INT = 2**31 - 1
"""The largest whole number stored: PostgreSQL's ``integer``, applied on SQLite too."""

# A day inside the range datetime can hold, so that showing a stored time in any zone
# (or PostgreSQL answering in its session zone) never overflows.
MIN_TIME = datetime(1, 1, 1, tzinfo=UTC) + timedelta(days=1)
MAX_TIME = datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=1)

MAX_LINE_BYTES = 16 * 1024 * 1024
"""A longer line is reported and skipped without being held in memory."""

_AHEAD = 2  # chunks parsed ahead of the one being written: bounded memory
_BAD_CHARACTER = re.compile(r"[\x00\ud800-\udfff]")
_SHOWN = 60


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored (a NUL, a lone surrogate), or None when it can."""
    found = _BAD_CHARACTER.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not text"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` for a terminal: every control character (ESC, CR, NUL, C1 ...) as an escape
    such as ``\\x1b``, so text from strangers cannot move the cursor or rewrite a line."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def time_problem(value: datetime) -> str | None:
    """Why the aware UTC time ``value`` cannot be stored, or None when it can."""
    if MIN_TIME <= value <= MAX_TIME:
        return None
    bounds = f"from {MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d}"
    return f"is out of range ({value:%Y-%m-%d} UTC; {bounds})"


def show(value: object) -> str:
    """``value`` for a message: its repr, cut to 60 characters (a huge number included)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**_SHOWN:
        return f"a number of about {len(format(abs(value), 'x')) * 1.2:.0f} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(number, bytes)`` per line of ``stream``, counting from 1.

    A line longer than :data:`MAX_LINE_BYTES` is read to its end in pieces and yielded
    as ``(number, None)``, so a file of one giant line never sits in memory.
    """
    number = 0
    readline = stream.readline
    while raw := readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield number, raw
            continue
        while (rest := readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield number, None


Chunk = TypeVar("Chunk")
Parsed = TypeVar("Parsed")


def parsed_ahead(
    chunks: Iterable[Chunk], parse: Callable[[Chunk], Parsed], *, background: bool
) -> Iterator[Parsed]:
    """Yield ``parse(chunk)`` for each chunk, in order.

    With ``background``, a helper process parses the next chunks while the caller writes
    the current one to the store: parsing (JSON, address validation) and writing each take
    about half of an import's time, so on two free cores an import runs nearly twice as
    fast. ``parse`` must be a module-level function (it is pickled) with no side effects.
    The helper is started by a fork server (a clean process, not a fork of this one and
    its open database connections); if it cannot start, parsing happens here.
    """
    if not background:
        yield from map(parse, chunks)
        return
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    except (OSError, ValueError, NotImplementedError):
        yield from map(parse, chunks)
        return
    pending: deque[Future[Parsed]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(parse, chunk))
            if len(pending) > _AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunked(items: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    chunk: list[Chunk] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
