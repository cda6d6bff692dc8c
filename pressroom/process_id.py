"""The id a process writes into the store as a worker or a sender: ``host:pid:start``.

The host and pid let another process on the same host tell that the writer is dead
(:func:`process_gone`: a sender's rows, a lease); the start time keeps ids unique when a pid
is reused.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime

__all__ = ["process_gone", "process_id"]


def process_id(started_at: datetime | None = None) -> str:
    """``host:pid:start`` for this process; ``start`` is ``started_at``, default now."""
    start = time.time() if started_at is None else started_at.timestamp()
    return f"{socket.gethostname()}:{os.getpid()}:{int(start)}"


def process_gone(holder: str) -> bool:
    """True when ``holder`` (``host:pid:start``, maybe with a suffix such as ``/watch``)
    names a process on this host that no longer runs.

    Never for this process, another host, or a pid that may still run (a reused pid
    counts as running: the holder's lease then simply expires).
    """
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: it runs
        return False
    return False
