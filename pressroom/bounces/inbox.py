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
    """One message of a mailbox: its key there, its bytes and their size.

    ``data`` is empty when the message was bigger than the mailbox was asked to read
    (``size`` says how big): such a message is set aside unparsed.
    """

    key: str
    data: bytes
    size: int

    @property
    def where(self) -> str:
        """The message for a person: its Maildir file or its IMAP UID."""
        return f"file {self.key}" if "/" in self.key else f"IMAP UID {self.key}"


class Inbox(Protocol):
    """What bounce processing needs of a mailbox."""

    def messages(self, max_bytes: int) -> Iterator[Item]:
        """The messages waiting, one at a time; one above ``max_bytes`` is not read."""
        ...

    def move(self, key: str, folder: str, *, flag: bool) -> None:
        """Move a message to ``folder`` (made if missing); ``flag`` marks it flagged too."""
        ...
