"""Inbound mailboxes: a Maildir folder, or an IMAP mailbox (:mod:`pressroom.bounces.imap`).

Both hand out messages one at a time and move each, once handled, into a ``processed``
or ``failed`` folder beside it, so nothing is lost and nothing is read twice on purpose.
A Maildir's folders are Maildir++ (``<maildir>/.processed``), as Dovecot and Courier
keep them, so the same folders show up over IMAP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pressroom.bounces.config import BounceConfig
from pressroom.bounces.inbox import Inbox, Item
from pressroom.errors import ConfigError, JobFailed

__all__ = ["Maildir", "open_mailbox"]


class Maildir:
    """A Maildir folder (``new``, ``cur``, ``tmp``); moves are renames (atomic).

    Raises:
        JobFailed: the folder is not a Maildir.
    """

    def __init__(self, path: Path) -> None:
        if not all((path / sub).is_dir() for sub in ("new", "cur")):
            raise JobFailed(f"{path}: not a Maildir (no new/ and cur/ folders)")
        self.path = path

    def messages(self, max_bytes: int) -> Iterator[Item]:
        """Every message in ``new`` and ``cur``, oldest file name first; one bigger than
        ``max_bytes`` is handed out unread."""
        for sub in ("new", "cur"):
            names = sorted(n for n in os.listdir(self.path / sub) if not n.startswith("."))
            for name in names:
                try:
                    with open(self.path / sub / name, "rb") as file:
                        size = os.fstat(file.fileno()).st_size
                        data = file.read() if size <= max_bytes else b""
                except FileNotFoundError:  # moved meanwhile by another reader
                    continue
                yield Item(f"{sub}/{name}", data, size)

    def move(self, key: str, folder: str, *, flag: bool) -> None:
        """Rename the message into ``.<folder>/cur`` with the seen (and flagged) flag."""
        target = self.path / f".{folder}"
        try:
            for sub in ("new", "cur", "tmp"):
                (target / sub).mkdir(parents=True, exist_ok=True)
            (target / "maildirfolder").touch()
        except OSError as exc:
            raise JobFailed(f"{target}: cannot make the folder: {exc}") from exc
        name = key.split("/", 1)[1]
        base, _, info = name.partition(":2,")
        flags = set(info) | {"S"} | ({"F"} if flag else set())
        try:
            os.replace(self.path / key, target / "cur" / f"{base}:2,{''.join(sorted(flags))}")
        except OSError as exc:
            raise JobFailed(f"{self.path / key}: cannot move it to {target}: {exc}") from exc

    def __enter__(self) -> Maildir:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def open_mailbox(config: BounceConfig) -> AbstractContextManager[Inbox]:
    """The mailbox ``[bounces] source`` names, as a context manager.

    Raises:
        ConfigError: an IMAP source without a password.
        JobFailed: the mailbox cannot be opened (not a Maildir, IMAP refused).
    """
    parts = urlsplit(config.source)
    if parts.scheme == "maildir":
        path = Path(unquote(parts.path))
        return Maildir(path if path.is_absolute() else config.base_dir / path)
    if config.password is None:
        raise ConfigError(
            [f"bounces.password: not set for {config.source} (set $PRESSROOM_BOUNCES__PASSWORD)"]
        )
    from pressroom.bounces.imap import ImapInbox

    return ImapInbox(config)
