"""Several senders on one period: one run, every subscriber mailed once, honest reports."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from digestkit import add_articles, add_subscriber, article, make_settings
from smtpkit import Recorder
from support import NOW, FakeClock

from pressroom.config import Settings
from pressroom.digest.report import DigestReport
from pressroom.digest.service import send_digest
from pressroom.models import DigestStatus, Priority
from pressroom.store import deliveries as ledger
from pressroom.store.digests import latest_digest
from pressroom.store.engine import Store, open_store
from pressroom.wiring import digest_config


def _site(tmp_path: Path, store: Store, people: int, extra: str = "") -> Settings:
    add_articles(store, [article(1, "news", NOW - timedelta(hours=1), priority=Priority.HEADLINE)])
    for n in range(people):
        add_subscriber(store, f"reader{n:03d}@example.com")
    return make_settings(tmp_path, extra)


@pytest.mark.smtp
def test_two_senders_starting_one_period_together_mail_everyone_once(
    tmp_path: Path,
    store: Store,
    store_url: str,
    smtp_server,  # type: ignore[no-untyped-def]
) -> None:
    recorder = Recorder(delay=0.002)
    server = smtp_server(recorder)
    settings = _site(tmp_path, store, 60, _smtp(server.host, server.port))
    reports: list[DigestReport] = []
    barrier = threading.Barrier(2)

    def sender() -> None:
        own = open_store(store_url)  # a process of its own would have its own engine
        try:
            barrier.wait(10)
            reports.append(
                asyncio.run(
                    send_digest(digest_config(settings), own, FakeClock(), show_progress=False)
                )
            )
        finally:
            own.dispose()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(reports) == 2
    assert sorted(r.created for r in reports) == [False, True]
    got = Counter(r.rcpt_tos[0] for r in recorder.snapshot())
    assert len(got) == 60 and set(got.values()) == {1}
    assert sum(r.sent for r in reports) == 60
    assert all(r.ok for r in reports) and any(r.completed for r in reports), reports


def _smtp(host: str, port: int) -> str:
    """Extra config (it continues the [mail] table) for an SMTP relay."""
    return (
        f'transport = "smtp"\n[mail.smtp]\nhost = "{host}"\nport = {port}\ntls = "none"\n'
        "connections = 2\ntimeout = 5.0\n"
    )


def test_rows_held_by_another_live_sender_leave_the_run_open_but_ok(
    tmp_path: Path, store: Store
) -> None:
    settings = _site(tmp_path, store, 3)
    stop = asyncio.Event()
    stop.set()
    clock = FakeClock()
    asyncio.run(send_digest(digest_config(settings), store, clock, show_progress=False, stop=stop))
    with store.write() as conn:  # another machine's sender holds one row, its lease fresh
        run = latest_digest(conn, "daily")
        assert run is not None
        assert len(ledger.claim(conn, run.id, "elsewhere:1:1", 1)) == 1
    report = asyncio.run(send_digest(digest_config(settings), store, clock, show_progress=False))
    assert (report.sent, report.remaining, report.elsewhere) == (2, 1, 1)
    assert report.ok and not report.completed
    assert "(1 with other senders)" in report.summary()
    with store.read() as conn:
        run = latest_digest(conn, "daily")
    assert run is not None and run.status is DigestStatus.OPEN
