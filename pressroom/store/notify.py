"""PostgreSQL ``LISTEN``/``NOTIFY`` on ``pressroom_articles``: "articles changed", at once.

The feeds watch polls the store's data version; on PostgreSQL it also listens on this
channel, so a CMS that runs ``NOTIFY pressroom_articles`` after its commit (or calls
:func:`notify_articles` inside its transaction) gets its article built without waiting
for the next poll. The poll stays the fallback: a lost connection or a writer that does
not notify only costs the poll interval. SQLite has no such thing: nothing is started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection

from pressroom.store.engine import Store

__all__ = ["ARTICLES_CHANNEL", "ArticlesListener", "notify_articles"]

log = logging.getLogger("pressroom.store")

ARTICLES_CHANNEL = "pressroom_articles"
_RECONNECT_AFTER = 5.0


def notify_articles(conn: Connection) -> None:
    """``NOTIFY pressroom_articles`` in the caller's transaction (sent when it commits).

    Does nothing on SQLite.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {ARTICLES_CHANNEL}")


class ArticlesListener:
    """``LISTEN pressroom_articles`` on a connection of its own, in a daemon thread.

    ``on_notify`` is called from that thread for each notification; it must be cheap
    and thread-safe (the watch hands it to its event loop).
    """

    def __init__(self, store: Store, on_notify: Callable[[], None]) -> None:
        self.store, self.on_notify = store, on_notify
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def start(self) -> bool:
        """Start listening; False on SQLite (nothing to listen to)."""
        if self.store.is_sqlite:
            return False
        self._thread = threading.Thread(target=self._run, name="pressroom-listen", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop listening (within about a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        url = self.store.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {ARTICLES_CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for _notice in conn.notifies(timeout=1.0):
                            self.on_notify()
            except psycopg.Error as exc:  # the poll covers the gap; try again shortly
                self.listening.clear()
                log.warning("cannot listen on %s: %s", ARTICLES_CHANNEL, exc)
                self._stop.wait(_RECONNECT_AFTER)
