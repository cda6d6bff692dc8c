"""What a feed build did: the files it wrote, kept and removed."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FeedBuildReport"]

_LIST_KEPT_UP_TO = 6


@dataclass
class FeedBuildReport:
    """The outcome of :func:`pressroom.feeds.build_feeds`.

    Paths are relative to the output folder (``all/rss.xml``, ``index.html``). ``failed``
    holds one sentence per feed that could not be built (its old files are left alone).
    """

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    feeds: int = 0
    skipped_articles: int = 0
    seconds: float = 0.0
    output_dir: str = ""

    @property
    def ok(self) -> bool:
        """True when every feed was built."""
        return not self.failed

    def summary(self) -> str:
        """One line: counts of files written, kept and removed, feeds, time."""
        text = (
            f"feeds: {len(self.written)} written, {len(self.kept)} kept, "
            f"{len(self.removed)} removed ({self.feeds} feeds"
        )
        if self.skipped_articles:
            text += f", {self.skipped_articles} articles skipped"
        text += f", {self.seconds * 1000:.0f} ms)"
        if self.failed:
            text += f"; {len(self.failed)} failed"
        return text

    def lines(self) -> list[str]:
        """What the command line prints: each file written and removed, the kept ones
        (listed when few, else counted), each failure, then :meth:`summary`."""
        out = [f"wrote   {path}" for path in self.written]
        out += [f"removed {path}" for path in self.removed]
        if len(self.kept) <= _LIST_KEPT_UP_TO:
            out += [f"kept    {path}" for path in self.kept]
        else:
            out.append(f"kept    {len(self.kept)} unchanged files")
        out += [f"FAILED  {reason}" for reason in self.failed]
        if self.output_dir:
            out.append(f"in      {self.output_dir}")
        out.append(self.summary())
        return out
