"""Real sender processes: SIGKILL mid-run and restart; three senders sharing PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deliverykit import add_digest, add_subscribers, delivery_rows
from smtpkit import Recorder, SmtpServer

from pressroom.store import deliveries as ledger
from pressroom.store.engine import Store, open_store

pytestmark = [pytest.mark.smtp, pytest.mark.slow]

StartServer = Callable[..., SmtpServer]
KITS = Path(__file__).parents[1] / "kits"  # deliverykit and smtpkit

SENDER_SCRIPT = """
import asyncio, sys
from functools import partial
sys.path.insert(0, sys.argv[1])
from deliverykit import simple_compose, smtp_settings_for
from pressroom.config import load_settings
from pressroom.delivery.send import deliver
from pressroom.process_id import process_id
from pressroom.delivery.transport import SmtpTransport
from pressroom.store.engine import open_store
from pressroom.subscribers.lifecycle import send_bounce_rule

async def main(url, digest, host, port, connections):
    store = open_store(url)
    transport = SmtpTransport(smtp_settings_for(host, int(port), connections=int(connections)))
    async with transport:
        report = await deliver(
            store, int(digest), partial(simple_compose, digest_id=int(digest)), transport,
            on_bounce=send_bounce_rule(load_settings(None).mail.bounce_after),
            clock=__import__("pressroom.clock").clock.system_clock,
            worker_id=process_id(), show_progress=False, batch_size=20,
        )
    print(report.sent, report.failed, report.uncertain, flush=True)

asyncio.run(main(*sys.argv[2:]))
"""


def start_sender(
    tmp_path: Path, url: str, digest: int, server: SmtpServer
) -> subprocess.Popen[str]:
    script = tmp_path / "sender.py"
    script.write_text(SENDER_SCRIPT, encoding="utf-8")
    args = [str(KITS), url, str(digest), server.host, str(server.port), "4"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def prepare(store: Store, count: int) -> int:
    digest = add_digest(store)
    people = add_subscribers(store, count)
    with store.write() as conn:
        ledger.enqueue(conn, digest, people)
    return digest


def statuses_by_email(store: Store, digest: int) -> dict[str, str]:
    return {r["email"]: r["status"] for r in delivery_rows(store, digest).values()}


def finish(process: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def kill_mid_run(
    tmp_path: Path, url: str, store: Store, digest: int, server: Any, handler: Any
) -> set[str]:
    """Start a sender of ``digest`` (240 deliveries), SIGKILL it once 60 messages arrived;
    return the addresses whose rows it left ``sending``."""
    first = start_sender(tmp_path, url, digest, server)
    deadline = time.monotonic() + 60
    while len(handler.received) < 60 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    at_kill = statuses_by_email(store, digest)
    assert 60 <= len(handler.received) < 240, "the sender was not killed mid-run"
    return {email for email, status in at_kill.items() if status == "sending"}


def test_a_killed_sender_loses_nobody_and_duplicates_only_in_flight(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    handler = Recorder(delay=0.004)
    server = smtp_server(handler)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    digest = prepare(store, 240)

    held = kill_mid_run(tmp_path, url, store, digest, server, handler)

    finish(start_sender(tmp_path, url, digest, server))
    got = handler.by_recipient()
    assert set(got) == {f"user{i}@example.org" for i in range(240)}  # nobody lost
    duplicated = {email for email, n in got.items() if n > 1}
    assert duplicated <= held  # only rows the dead sender held ...
    assert len(duplicated) <= 4  # ... and at most one per connection: those in flight
    assert max(got.values()) <= 2
    assert set(statuses_by_email(store, digest).values()) == {"sent"}
    store.dispose()


@pytest.mark.postgres
def test_three_processes_on_postgresql_deliver_each_message_once(
    tmp_path: Path, smtp_server: StartServer, pg_url: str
) -> None:
    handler = Recorder(delay=0.002)
    server = smtp_server(handler)
    store = open_store(pg_url)
    digest = prepare(store, 300)

    senders = [start_sender(tmp_path, pg_url, digest, server) for _ in range(3)]
    reports = [finish(p) for p in senders]

    assert Counter(handler.by_recipient().values()) == Counter({1: 300})
    assert set(statuses_by_email(store, digest).values()) == {"sent"}
    sent_per_process = [int(r.split()[0]) for r in reports]
    assert sum(sent_per_process) == 300
    workers = {r["claimed_by"] for r in delivery_rows(store, digest).values()}
    assert len(workers) >= 2, "the processes did not share the run"
    store.dispose()
