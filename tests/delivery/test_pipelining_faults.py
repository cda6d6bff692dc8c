"""The ledger's guarantees on the pipelined path: fault storms (451s, drops before and
after the data) and a sender killed mid-run, against aiosmtpd offering PIPELINING."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from smtpkit import FaultyHandler, SmtpServer, waiting
from support import NOW
from test_send_processes import finish, kill_mid_run, prepare, start_sender, statuses_by_email
from wirekit import ScriptedHandler

from pressroom.delivery.send import deliver
from pressroom.delivery.transport import SmtpTransport, TemporaryFailure
from pressroom.store.engine import Store, open_store
from pressroom.subscribers.lifecycle import send_bounce_rule

pytestmark = [pytest.mark.smtp]


@dataclass
class PipelinedFaults(FaultyHandler):
    """smtpkit's random faults, from a server that offers PIPELINING."""

    pipelining: bool = True
    grouped: int = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if waiting(server).startswith(b"RCPT TO:"):
            with self.lock:
                self.grouped += 1
        return await super().handle_MAIL(server, session, envelope, address, options)


def _transport(server: SmtpServer, **overrides: object) -> SmtpTransport:
    from deliverykit import smtp_settings

    return SmtpTransport(smtp_settings(server, **overrides), backoff=0.005, max_backoff=0.02)


async def _deliver(store: Store, digest: int, smtp: SmtpTransport) -> tuple[int, int, int]:
    from functools import partial

    from deliverykit import simple_compose

    async with smtp:
        report = await deliver(
            store, digest, partial(simple_compose, digest_id=digest), smtp,
            on_bounce=send_bounce_rule(1), clock=lambda: NOW, worker_id="pipelined",
            show_progress=False, batch_size=16,
        )  # fmt: skip
    return report.sent, report.failed, report.uncertain


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_fault_storm_loses_nobody_and_resends_nothing_uncertain(
    sqlite_store: Store, smtp_server: Callable[..., SmtpServer]
) -> None:
    handler = PipelinedFaults(tempfail=0.2, drop=0.03, drop_after_data=0.03, seed=17)
    server = smtp_server(handler)
    digest = prepare(sqlite_store, 300)
    sent, failed, uncertain = await _deliver(sqlite_store, digest, _transport(server, retries=3))
    # every MAIL came with its RCPT and DATA (a "drop" hangs up before counting one)
    assert handler.grouped == handler.transactions + handler.faults["drop"] > 300
    got = handler.by_recipient()
    rows = statuses_by_email(sqlite_store, digest)
    assert max(got.values()) == 1  # nobody twice
    assert {e for e, s in rows.items() if s == "sent"} <= set(got)
    assert {e for e, s in rows.items() if s == "uncertain"} <= set(got)  # kept by the server
    assert set(rows.values()) <= {"sent", "failed", "uncertain"}
    assert sent + failed + uncertain == 300
    assert uncertain == handler.faults["drop-after-data"] > 0
    assert handler.faults["drop"] > 0 and handler.faults["tempfail-rcpt"] > 10


@pytest.mark.anyio
async def test_a_451_storm_halts_the_run_with_everything_queued(
    sqlite_store: Store, smtp_server: Callable[..., SmtpServer]
) -> None:
    handler = PipelinedFaults(tempfail=1.0)
    server = smtp_server(handler)
    digest = prepare(sqlite_store, 60)
    with pytest.raises(TemporaryFailure, match="stay queued"):
        await _deliver(sqlite_store, digest, _transport(server, retries=1, connections=2))
    assert handler.grouped == handler.transactions > 0
    assert handler.received == []
    assert set(statuses_by_email(sqlite_store, digest).values()) <= {"queued", "failed"}


@pytest.mark.slow
def test_a_killed_pipelining_sender_loses_nobody_and_duplicates_only_in_flight(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]
) -> None:
    handler = ScriptedHandler(delay=0.004)
    server = smtp_server(handler)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    digest = prepare(store, 240)

    held = kill_mid_run(tmp_path, url, store, digest, server, handler)

    finish(start_sender(tmp_path, url, digest, server))
    assert len(handler.grouped) >= 240 and all(handler.grouped)  # all pipelined
    got = handler.by_recipient()
    assert set(got) == {f"user{i}@example.org" for i in range(240)}  # nobody lost
    duplicated = {email for email, n in got.items() if n > 1}
    assert duplicated <= held and len(duplicated) <= 4  # at most one per connection
    assert set(statuses_by_email(store, digest).values()) == {"sent"}
    store.dispose()
