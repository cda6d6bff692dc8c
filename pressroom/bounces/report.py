"""What one pass over the bounce mailbox did, for the CLI, the worker and ``job_runs``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pressroom.models import BounceKind

__all__ = ["BounceReport"]


@dataclass
class BounceReport:
    """Counts of one ``bounces process`` run: every message read is in exactly one of
    ``kinds`` (new), ``duplicates`` (seen before) or ``failed`` (could not be parsed)."""

    kinds: Counter[BounceKind] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Messages taken from the mailbox."""
        return sum(self.kinds.values()) + self.duplicates + len(self.failed)

    def summary(self) -> str:
        """One line: messages read, per kind, what changed, duplicates, failures."""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.kinds.items()) if n)
        actions = ", ".join(f"{action} {n}" for action, n in sorted(self.actions.items()) if n)
        parts = [f"{self.read} messages"]
        if kinds:
            parts.append(kinds)
        parts.append(f"changed: {actions or 'nothing'}")
        if self.duplicates:
            parts.append(f"{self.duplicates} seen before")
        if self.failed:
            parts.append(f"{len(self.failed)} unparseable (moved to 'failed')")
        return "; ".join(parts)
