"""The IMAP mailbox: ``imaps://user@host[:port]/MAILBOX`` (implicit TLS, port 993), or
``imap://`` with STARTTLS required (port 143). Never in clear text.

The certificate is checked against the system's CAs, or ``[bounces] ca_file``. Messages
are fetched with ``BODY.PEEK[]`` (not marked read until handled); a handled message is
flagged (processed ones) and moved with ``UID MOVE`` (RFC 6851), or copied, deleted and
expunged on servers without MOVE.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterator
from types import TracebackType
from urllib.parse import unquote, urlsplit

from pressroom.bounces.config import BounceConfig
from pressroom.bounces.inbox import Item
from pressroom.errors import JobFailed

__all__ = ["ImapInbox"]

_TIMEOUT = 60.0


class ImapInbox:
    """One IMAP session on the configured mailbox; a context manager (logs out on exit).

    Raises:
        JobFailed: the server cannot be reached, TLS fails, or it refuses the login or mailbox.
    """

    def __init__(self, config: BounceConfig) -> None:
        parts = urlsplit(config.source)
        self._host = parts.hostname or ""
        self._tls = parts.scheme == "imaps"
        self._port = parts.port or (993 if self._tls else 143)
        self._user = unquote(parts.username or "")
        self._password = config.password or ""
        self._mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
        self._ca_file = config.ca_file
        self._where = f"{parts.scheme}://{self._user}@{self._host}:{self._port}/{self._mailbox}"
        self._conn: imaplib.IMAP4 | None = None
        self._made: set[str] = set()

    def __enter__(self) -> ImapInbox:
        context = ssl.create_default_context(
            cafile=None if self._ca_file is None else str(self._ca_file)
        )
        try:
            if self._tls:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self._host, self._port, ssl_context=context, timeout=_TIMEOUT
                )
            else:
                conn = imaplib.IMAP4(self._host, self._port, timeout=_TIMEOUT)
                conn.starttls(ssl_context=context)
            self._conn = conn
            conn.login(self._user, self._password)
            status, detail = conn.select(_quote(self._mailbox))
            if status != "OK":
                raise JobFailed(f"{self._where}: cannot open the mailbox: {_text(detail)}")
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            self._close()
            raise JobFailed(f"{self._where}: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def messages(self, max_bytes: int) -> Iterator[Item]:
        """Every message in the mailbox, by UID, fetched one at a time (one whose
        ``RFC822.SIZE`` is above ``max_bytes`` is handed out unread)."""
        try:
            yield from self._messages(max_bytes)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise JobFailed(f"{self._where}: {exc}") from exc

    def move(self, key: str, folder: str, *, flag: bool) -> None:
        """Flag (when asked) and move message ``key`` (a UID) into ``folder``."""
        try:
            self._move(key, folder, flag=flag)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise JobFailed(f"{self._where}: {exc}") from exc

    def _messages(self, max_bytes: int) -> Iterator[Item]:
        conn = self._session()
        status, data = conn.uid("SEARCH", "ALL")
        self._check(status, data, "search")
        for uid in (data[0] or b"").split():
            status, sized = conn.uid("FETCH", uid.decode(), "(RFC822.SIZE)")
            self._check(status, sized, "fetch")
            size = _size(sized)
            if size > max_bytes:
                yield Item(uid.decode(), b"", size)
                continue
            status, fetched = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            self._check(status, fetched, "fetch")
            body = next((part[1] for part in fetched if isinstance(part, tuple)), None)
            if isinstance(body, bytes):
                yield Item(uid.decode(), body, len(body))

    def _move(self, key: str, folder: str, *, flag: bool) -> None:
        conn = self._session()
        self._ensure_folder(folder)
        flags = r"(\Seen \Flagged)" if flag else r"(\Seen)"
        self._check(*conn.uid("STORE", key, "+FLAGS", flags), "store")
        if "MOVE" in conn.capabilities:
            self._check(*conn.uid("MOVE", key, _quote(folder)), "move")
            return
        self._check(*conn.uid("COPY", key, _quote(folder)), "copy")
        self._check(*conn.uid("STORE", key, "+FLAGS", r"(\Deleted)"), "store")
        self._check(*conn.expunge(), "expunge")

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._made:
            return
        conn = self._session()
        status, listed = conn.list('""', _quote(folder))
        if status == "OK" and not any(listed):
            self._check(*conn.create(_quote(folder)), f"create folder {folder}")
        self._made.add(folder)

    def _session(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise RuntimeError("use the inbox inside a with block")
        return self._conn

    def _check(self, status: str, data: list[object], what: str) -> None:
        if status != "OK":
            raise JobFailed(f"{self._where}: IMAP {what} failed: {_text(data)}")

    def _close(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self._conn.logout()
        self._conn = None


def _size(data: list[object]) -> int:
    """The ``RFC822.SIZE`` of a FETCH answer (0 when the server left it out)."""
    for part in data:
        line = part[0] if isinstance(part, tuple) else part
        if isinstance(line, bytes):
            match = re.search(rb"RFC822\.SIZE (\d+)", line)
            if match:
                return int(match.group(1))
    return 0


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    if isinstance(data, list) and data and isinstance(data[0], bytes):
        return data[0].decode("utf-8", "replace")
    return str(data)
