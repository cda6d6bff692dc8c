"""Helpers for the operations tests: a digest site on disk, `pressroom` as a real process.

:func:`make_site` writes a config whose mail goes to a real SMTP server (see
:mod:`smtpkit`), one important article in the current window and ``count`` subscribers;
:func:`start_pressroom` runs a command as its own process, the way an operator does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import digestkit
import support
from deliverykit import add_subscribers

from pressroom.config import Settings
from pressroom.models import Priority
from pressroom.store.engine import Store, open_store

__all__ = ["Site", "lock_sqlite", "make_site", "one_line", "start_pressroom"]


@dataclass
class Site:
    """A test site: its folder, config file, settings and opened store."""

    folder: Path
    config: Path
    settings: Settings
    store: Store


def make_site(
    folder: Path,
    *,
    smtp: tuple[str, int] | None = None,
    store_url: str | None = None,
    count: int = 0,
    busy_timeout: float = 30.0,
    connections: int = 2,
    extra: str = "",
) -> Site:
    """A site in ``folder`` with ``count`` active subscribers and one important article."""
    url = store_url or f"sqlite:///{folder / 'store.db'}"
    tables: dict[str, dict[str, object]] = {
        **digestkit.SITE,
        "store": {"url": url, "busy_timeout": busy_timeout},
    }
    mail = dict(digestkit.SITE["mail"])
    if smtp is not None:
        mail["transport"] = "smtp"
        mail["smtp"] = {
            "host": smtp[0],
            "port": smtp[1],
            "tls": "none",
            "connections": connections,
            "timeout": 60.0,
            "retries": 1,
        }
    tables["mail"] = mail
    settings = support.make_settings(folder, extra, **tables)
    store = open_store(url)
    now = support.yesterday()  # in the window of a digest sent today
    digestkit.add_articles(
        store, [digestkit.article(1, "news", now - timedelta(hours=1), priority=Priority.HEADLINE)]
    )
    if count:
        add_subscribers(store, count)
    return Site(folder, folder / "pressroom.toml", settings, store)


def start_pressroom(
    site: Site, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``pressroom --config <site> ARGS`` as a separate process (stdout/stderr piped)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    clean.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(site.config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
        cwd=site.folder,
    )


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


def lock_sqlite(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``BEGIN IMMEDIATE`` on the SQLite file for ``seconds``.

    Returns once the lock is held.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


def one_line(stderr: str) -> str:
    """The error a command printed, checked to be one line without a traceback."""
    lines = [line for line in stderr.splitlines() if line.startswith("pressroom: ")]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]
