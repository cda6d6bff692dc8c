"""What bounce processing needs of a mailbox: messages one at a time, and a move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["FAILED", "PROCESSED", "Inbox", "Item"]

PROCESSED = "processed"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Item:
    """One message of a mailbox: its key there and its bytes."""

    key: str
    data: bytes


class Inbox(Protocol):
    """What bounce processing needs of a mailbox."""

    def messages(self) -> Iterator[Item]:
        """The messages waiting, one at a time."""
        ...

    def move(self, key: str, folder: str, *, flag: bool) -> None:
        """Move a message to ``folder`` (made if missing); ``flag`` marks it flagged too."""
        ...
