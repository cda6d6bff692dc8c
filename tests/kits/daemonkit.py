"""What the tests' private mail daemons (Postfix, Dovecot) have in common.

Each runs as root from a temporary folder of its own that the daemons' system users can
enter (pytest's ``tmp_path`` is private), on loopback ports that were free a moment ago;
a test waits until it answers, and at the end until its pid file is gone. Used by
``postfixkit``, ``dovecotkit`` and ``postfix_relay``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "MAIL_UID",
    "PrivateDaemon",
    "daemon_folder",
    "free_port",
    "read_log",
    "wait_gone",
    "wait_listening",
]

MAIL_UID = 65534  # nobody: Postfix's virtual agent and Dovecot both refuse root


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def daemon_folder(prefix: str) -> Path:
    """A new temporary folder that every system user may enter (the daemons drop root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def read_log(path: Path) -> str:
    """A daemon's log file so far ('' while there is none), for failure messages."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def wait_listening(
    port: int,
    *,
    name: str,
    log: Callable[[], str],
    greeting: bytes | None = None,
    exited: Callable[[], str | None] = lambda: None,
    timeout: float = 15.0,
) -> None:
    """Wait until 127.0.0.1:``port`` accepts a connection (and, with ``greeting``, its
    first bytes start with it).

    Args:
        name: the daemon, for the error.
        log: its log so far, for the error.
        exited: why the daemon is already gone (None while it runs): fail at once.

    Raises:
        RuntimeError: the daemon exited, or did not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gone = exited()
        if gone is not None:
            raise RuntimeError(f"{name} exited: {gone}\n{log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if greeting is None or sock.recv(512).startswith(greeting):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port}\n{log()}")


def wait_gone(path: Path, timeout: float = 10.0) -> None:
    """Wait (at most ``timeout`` seconds) until ``path`` (a daemon's pid file) is removed."""
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


class PrivateDaemon:
    """A daemon that forks into the background from its own :func:`daemon_folder`; a
    context manager that starts it (stopping it again if the start fails) and stops it.

    A subclass sets :attr:`folder` and :attr:`log_file` and implements :meth:`start`,
    :meth:`pid_file` and :meth:`stop_command`.
    """

    folder: Path
    log_file: Path

    def start(self) -> None:
        """Write the configuration, start the daemon, return once it answers."""
        raise NotImplementedError

    def pid_file(self) -> Path:
        """The master's pid file (there while it runs)."""
        raise NotImplementedError

    def stop_command(self) -> list[str]:
        """The command that stops the master and every child."""
        raise NotImplementedError

    def log(self) -> str:
        """The daemon's log so far (for failure messages)."""
        return read_log(self.log_file)

    def stop(self) -> None:
        """Stop the daemon if it runs and remove its folder."""
        if self.pid_file().exists():
            subprocess.run(self.stop_command(), capture_output=True, check=False)
            wait_gone(self.pid_file())
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
