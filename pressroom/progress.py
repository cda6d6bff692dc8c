"""Progress of long work: a bar on a terminal, plain log lines elsewhere.

Usage::

    with progress("importing", total=None, unit="rows") as bar:
        bar.advance(1000)
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Progress", "progress"]

log = logging.getLogger("pressroom.progress")
_LOG_EVERY_S = 5.0


class Progress(Protocol):
    """Something that can be told how much work got done."""

    def advance(self, amount: int = 1) -> None:
        """Record ``amount`` more units of work done."""


class _LogProgress:
    def __init__(self, label: str, total: int | None, unit: str) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.started = self._last = time.monotonic()

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self._last >= _LOG_EVERY_S:
            self._last = now
            self.report()

    def report(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        of_total = f"/{self.total}" if self.total else ""
        log.info(
            "%s: %d%s %s (%.0f %s/s)",
            self.label,
            self.done,
            of_total,
            self.unit,
            self.done / elapsed,
            self.unit,
        )


class _BarProgress:
    def __init__(self, bar: object, task: object) -> None:
        self._bar, self._task = bar, task

    def advance(self, amount: int = 1) -> None:
        self._bar.advance(self._task, amount)  # type: ignore[attr-defined]


@contextmanager
def progress(
    label: str, total: int | None = None, unit: str = "items", *, enabled: bool = True
) -> Iterator[Progress]:
    """Show progress of ``label``: a rich bar when stderr is a terminal, else log lines."""
    if enabled and sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
        columns = [TextColumn("{task.description}"), BarColumn(), amount]
        columns += [TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
        with RichProgress(*columns, transient=True) as bar:
            yield _BarProgress(bar, bar.add_task(label, total=total))
        return
    plain = _LogProgress(label, total, unit)
    yield plain
    if enabled and plain.done and time.monotonic() - plain.started >= _LOG_EVERY_S:
        plain.report()
