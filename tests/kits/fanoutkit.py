"""A range reader held in memory, for the helper processes' failure modes
(:mod:`pressroom.sources.fanout`): it is pickled to the helpers, so it lives in a module
they can import, and it does what it is told when it reaches a given ID."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pressroom.errors import SourceUnavailable
from pressroom.sources.candidate import Candidate

__all__ = ["HOME", "MemoryRanges", "Unpicklable"]

HOME = "https://memory.example.cn"


class Unpicklable(Exception):
    """An error that cannot travel back from a helper (it holds a lock)."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


@dataclass
class MemoryRanges:
    """Posts 1..``posts`` (section ``domestic``), ``batch`` a batch; at post ``trap`` the
    helper reading it does ``action``: ``kill`` (SIGKILL itself), ``unreachable`` (a
    SourceUnavailable), ``unpicklable`` (an error that cannot be pickled); with ``close
    fails`` each helper fails (exit code 1) as it closes the reader, after its last batch."""

    posts: int
    batch: int = 5
    trap: int | None = None
    action: str = ""

    def ranges(self, since: datetime, width: int) -> list[tuple[int, int]]:
        return [
            (first, min(first + width - 1, self.posts)) for first in range(1, self.posts + 1, width)
        ]

    def batches(self, since: datetime) -> Iterator[list[Candidate]]:
        yield from self.range_batches(since, (1, self.posts))

    def range_batches(self, since: datetime, ids: tuple[int, int]) -> Iterator[list[Candidate]]:
        rows = [self._post(n) for n in range(ids[0], ids[1] + 1)]
        for start in range(0, len(rows), self.batch):
            yield rows[start : start + self.batch]

    def close(self) -> None:
        if self.action == "close fails" and os.getpid() != self._parent:
            raise RuntimeError("closing failed")  # after the helper said it was done

    def _post(self, n: int) -> Candidate:
        if n == self.trap and os.getpid() != self._parent:
            if self.action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.action == "unreachable":
                raise SourceUnavailable("source memory: cannot read memory://: gone")
            if self.action == "unpicklable":
                raise Unpicklable
        published = datetime(2026, 11, 28, tzinfo=UTC)
        values = {
            "url": f"{HOME}/{n}",
            "section": "domestic",
            "title": f"第{n}篇",
            "published_at": published.isoformat(),
        }
        return Candidate(f"id={n}", values)

    def __post_init__(self) -> None:
        self._parent = os.getpid()
