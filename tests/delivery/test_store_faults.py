"""A send whose store fails mid-way ends, says so in one sentence, and resumes cleanly.

Real parts only: `pressroom digest send` as its own process, a real aiosmtpd sink, a second
process holding SQLite's write lock past the busy timeout, PostgreSQL connections killed
with ``pg_terminate_backend``, SIGTERM while messages are stuck in flight.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from deliverykit import delivery_rows
from opskit import Site, lock_sqlite, make_site, one_line, start_pressroom
from smtpkit import Recorder, SmtpServer
from sqlalchemy import create_engine, text

from pressroom.store.digests import latest_digest

pytestmark = [pytest.mark.smtp, pytest.mark.slow]

StartServer = Callable[..., SmtpServer]
BUSY = 2.0  # [store] busy_timeout of these sites
MARGIN = 5.0 + 5.0  # the sender's margin (group_commit.MARGIN_S) + process start and exit, loaded


def wait_for(handler: Recorder, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(handler.received) < count:
        assert time.monotonic() < deadline, f"only {len(handler.received)} messages arrived"
        time.sleep(0.01)


def statuses(site: Site) -> Counter[str]:
    with site.store.read() as conn:
        run = latest_digest(conn, "daily")
    assert run is not None
    return Counter(r["status"] for r in delivery_rows(site.store, run.id).values())


def resume_and_check(site: Site, handler: Recorder, count: int, connections: int) -> None:
    """The next send finishes the run: everybody once, at most one extra per connection."""
    again = start_pressroom(site, "digest", "send")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    got = handler.by_recipient()
    assert set(got) == {f"user{i}@example.org" for i in range(count)}  # nobody lost
    assert sum(n - 1 for n in got.values()) <= connections  # twice: only those in flight
    assert statuses(site) == Counter({"sent": count})


def test_a_write_lock_past_the_busy_timeout_ends_the_send_and_the_next_one_resumes(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    handler = Recorder(delay=0.02)
    server = smtp_server(handler)
    site = make_site(tmp_path, smtp=(server.host, server.port), count=300, busy_timeout=BUSY)
    sender = start_pressroom(site, "digest", "send")
    wait_for(handler, 40)
    locker = lock_sqlite(tmp_path / "store.db", BUSY * 4)
    locked_at = time.monotonic()
    _, err = sender.communicate(timeout=60)
    took = time.monotonic() - locked_at
    assert sender.returncode == 1
    line = one_line(err)
    assert "store" in line and "locked" in line and "SQL" not in line
    assert took < BUSY + MARGIN, f"the send took {took:.1f}s after the lock"
    locker.communicate(timeout=30)

    at_end = statuses(site)
    assert at_end["sent"] <= len(handler.received) <= at_end["sent"] + at_end["sending"]
    resume_and_check(site, handler, 300, connections=2)
    site.store.dispose()


def test_the_first_sigterm_ends_the_send_inside_the_stop_window(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    handler = Recorder()
    server = smtp_server(handler)
    site = make_site(tmp_path, smtp=(server.host, server.port), count=50)
    sender = start_pressroom(site, "digest", "send")
    wait_for(handler, 10)
    handler.delay = 120.0  # every message now hangs before its final reply
    time.sleep(0.5)
    sender.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    _, err = sender.communicate(timeout=90)
    took = time.monotonic() - stopped_at
    assert took < 25 + MARGIN, f"the send took {took:.1f}s after SIGTERM"
    assert sender.returncode == 1 and "Traceback" not in err
    left = statuses(site)
    assert left["sending"] == 0 and left["queued"] > 0  # given back for the next send
    handler.delay = 0.0
    resume_and_check(site, handler, 50, connections=2)
    site.store.dispose()


def test_a_dead_senders_rows_come_back_on_the_next_send_without_an_operator(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    handler = Recorder(delay=0.01)
    server = smtp_server(handler)
    site = make_site(tmp_path, smtp=(server.host, server.port), count=200)
    sender = start_pressroom(site, "digest", "send")
    wait_for(handler, 30)
    sender.send_signal(signal.SIGKILL)
    sender.communicate(timeout=10)
    assert statuses(site)["sending"] > 0
    resume_and_check(site, handler, 200, connections=2)
    site.store.dispose()


@pytest.mark.postgres
def test_postgresql_connections_killed_mid_send_end_it_and_the_next_one_resumes(
    tmp_path: Path, smtp_server: StartServer, pg_url: str, pg_base_url: str
) -> None:
    handler = Recorder(delay=0.02)
    server = smtp_server(handler)
    site = make_site(tmp_path, smtp=(server.host, server.port), count=300, store_url=pg_url)
    name = f"pressroom-test-{uuid.uuid4().hex[:8]}"
    sender = start_pressroom(site, "digest", "send", env={"PGAPPNAME": name})
    wait_for(handler, 40)
    admin = create_engine(pg_base_url)
    with admin.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": name},
        ).scalar_one()
    admin.dispose()
    assert killed >= 1
    killed_at = time.monotonic()
    _, err = sender.communicate(timeout=60)
    assert time.monotonic() - killed_at < 30 + MARGIN
    assert sender.returncode == 1
    line = one_line(err)
    assert "store" in line and "SQL" not in line
    assert statuses(site)["sending"] == 0  # the store was up again: every row given back
    resume_and_check(site, handler, 300, connections=2)
    site.store.dispose()


def test_a_lock_longer_than_the_senders_margin_ends_it_without_a_traceback(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    # The busy timeout outlasts the sender's margin: the give-back thread is still waiting
    # for the lock when the command ends its event loop (issue 19: "Event loop is closed").
    handler = Recorder(delay=0.02)
    server = smtp_server(handler)
    site = make_site(tmp_path, smtp=(server.host, server.port), count=300, busy_timeout=9.0)
    sender = start_pressroom(site, "digest", "send")
    wait_for(handler, 40)
    locker = lock_sqlite(tmp_path / "store.db", 30)
    locked_at = time.monotonic()
    _, err = sender.communicate(timeout=90)
    took = time.monotonic() - locked_at
    assert sender.returncode == 1
    assert took < 9.0 + MARGIN, f"the send took {took:.1f}s after the lock"
    for sign in ("Traceback", "Event loop is closed", "never retrieved", "Exception in thread"):
        assert sign not in err, err
    assert "store" in one_line(err)
    locker.communicate(timeout=60)
    resume_and_check(site, handler, 300, connections=2)
    site.store.dispose()
