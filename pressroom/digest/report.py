"""What a digest run did, for people (the CLI) and for the worker's job record."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DigestReport", "counted"]


@dataclass
class DigestReport:
    """What one digest call did: a real send, a dry run or a test copy
    (see :mod:`pressroom.digest.service` and :func:`pressroom.digest.preview.send_test_copy`)."""

    schedule: str
    period: str
    articles: int = 0
    recipients: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    remaining: int = 0
    elsewhere: int = 0
    stopped: bool = False
    seconds: float = 0.0
    digest_id: int | None = None
    created: bool = False
    completed: bool = False
    dry_run: bool = False
    test_to: str | None = None

    @property
    def key(self) -> str:
        """``schedule:period``, e.g. ``daily:2026-11-29``."""
        return f"{self.schedule}:{self.period}"

    @property
    def ok(self) -> bool:
        """True when every delivery is recorded, or the rest are with other live senders.

        Several senders may share one run (``digest send`` on several machines); the one
        that finishes first leaves the others' messages in flight and has not failed.
        """
        if self.remaining == 0:
            return True
        return not self.stopped and self.remaining == self.elsewhere

    def summary(self) -> str:
        """One line for people: the run, the counts and the time taken."""
        if self.test_to is not None:
            articles = counted(self.articles, "article")
            return f"digest {self.key}: test copy ({articles}) sent to {self.test_to}"
        if self.dry_run:
            return (
                f"digest {self.key} (dry run): {counted(self.articles, 'article')}, "
                f"{counted(self.recipients, 'subscriber')} would get a mail; "
                "nothing sent or recorded"
            )
        if not self.created and self.completed and not (self.sent or self.failed):
            return (
                f"digest {self.key}: already completed ({counted(self.recipients, 'recipient')}, "
                f"{counted(self.articles, 'article')}); nothing new to send this period"
            )
        state = "completed" if self.completed else f"open, {self.remaining} left"
        if not self.completed and self.elsewhere:
            state += f" ({self.elsewhere} with other senders)"
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        return (
            f"digest {self.key}: {counted(self.articles, 'article')}, "
            f"{counted(self.recipients, 'recipient')}; "
            f"sent {self.sent}, failed {self.failed}, uncertain {self.uncertain}, "
            f"skipped {self.skipped} in {self.seconds:.1f} s ({rate:.0f}/s); run {state}"
        )


def counted(number: int, noun: str) -> str:
    """``1 article``, ``2 articles``, ``0 articles``: the number with its noun agreeing."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
