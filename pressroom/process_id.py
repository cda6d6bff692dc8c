"""The id a process writes into the store as a worker or a sender: ``host:pid:start``.

The host and pid let another process on the same host tell that the writer is dead (see
:mod:`pressroom.delivery.send`); the start time keeps ids unique when a pid is reused.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime

__all__ = ["process_id"]


def process_id(started_at: datetime | None = None) -> str:
    """``host:pid:start`` for this process; ``start`` is ``started_at``, default now."""
    start = time.time() if started_at is None else started_at.timestamp()
    return f"{socket.gethostname()}:{os.getpid()}:{int(start)}"
