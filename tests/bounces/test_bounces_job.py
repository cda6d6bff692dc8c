"""The ``bounces`` job of ``[[schedules]]``: run by the worker, recorded in job_runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bouncekit import Site, make_maildir, statuses
from storekit import add_subscriber
from support import NOW, FakeClock, make_settings

from pressroom.cli import main
from pressroom.config import ScheduleSettings
from pressroom.models import BounceKind, JobKind, SubscriberStatus
from pressroom.store import runs
from pressroom.store.engine import Store
from pressroom.worker.registry import job_for
from pressroom.worker.scheduler import job_runner

EVERY_5 = ScheduleSettings(name="bounces", job=JobKind.BOUNCES, cron="*/5 * * * *")


def test_the_worker_runs_the_bounces_job_and_records_it(
    tmp_path: Path, sqlite_store: Store
) -> None:
    maildir = make_maildir(tmp_path / "Maildir")
    settings = make_settings(
        tmp_path,
        mail={"return_path": "bounces@mail.test"},
        bounces={"source": f"maildir:{maildir}"},
    )
    site = Site(maildir, settings)
    with sqlite_store.write() as conn:
        gone = add_subscriber(conn, "gone@example.org")
    site.drop("dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(gone.id))
    clock = FakeClock()
    runner = job_runner(settings, sqlite_store, clock, "w1")  # the real jobs
    result = asyncio.run(runner.run(job_for(EVERY_5), clock()))
    assert result.outcome == "ok", result.error
    assert result.summary.startswith("1 messages; hard 1; changed: bounced 1")
    assert statuses(sqlite_store)["gone@example.org"] is SubscriberStatus.BOUNCED
    with sqlite_store.read() as conn:
        row = runs.last_run(conn, "bounces")
    assert row is not None and row.job == "bounces" and row.outcome == "ok"
    assert row.trigger == "schedule"


def test_schedules_accept_the_bounces_job(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, '[[schedules]]\nname = "bounces"\njob = "bounces"\ncron = "*/5 * * * *"\n'
    )
    assert settings.schedules[0].job is JobKind.BOUNCES


def test_cli_without_a_source_says_what_to_set(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    make_settings(tmp_path)
    assert main(["--config", str(tmp_path / "pressroom.toml"), "bounces", "process"]) == 2
    assert "bounces.source: not set" in capsys.readouterr().err


def test_cli_list_filters_by_kind_and_since(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    maildir = make_maildir(tmp_path / "Maildir")
    settings = make_settings(
        tmp_path,
        mail={"return_path": "bounces@mail.test"},
        bounces={"source": f"maildir:{maildir}"},
        store={"url": f"sqlite:///{tmp_path / 'store.db'}"},
    )
    site = Site(maildir, settings)
    config = str(tmp_path / "pressroom.toml")
    from pressroom.store.engine import open_store

    store = open_store(settings.store_url)
    with store.write() as conn:
        gone = add_subscriber(conn, "gone@example.org")
        away = add_subscriber(conn, "away@example.org")
    store.dispose()
    site.drop("dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(gone.id))
    site.drop("vacation.eml", rcpt="away@example.org", bounce=site.bounce_address(away.id))
    assert main(["--config", config, "bounces", "process"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "bounces", "list", "--kind", "hard"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "hard" in out[0] and "gone@example.org run 7  bounced  5.1.1" in out[0]
    assert main(["--config", config, "bounces", "list", "--since", "2000-01-01"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    # the messages' Date: is 2026-11-29, which their sender chose: they are dated by arrival
    assert main(["--config", config, "bounces", "list", "--since", "1d"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["--config", config, "bounces", "list", "--kind", "bogus"]) == 2
    assert "--kind bogus: not a kind" in capsys.readouterr().err
    assert main(["--config", config, "status"]) in (0, 1)
    assert "Bounce mailbox (last 30 days)" in capsys.readouterr().out


def test_cli_refuses_while_another_process_holds_the_mailbox(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from pressroom.store.engine import open_store
    from pressroom.worker.lease import BOUNCES_LEASE

    maildir = make_maildir(tmp_path / "Maildir")
    settings = make_settings(
        tmp_path,
        bounces={"source": f"maildir:{maildir}"},
        store={"url": f"sqlite:///{tmp_path / 'store.db'}"},
    )
    store = open_store(settings.store_url)
    with store.write() as conn:
        assert runs.acquire_lease(conn, BOUNCES_LEASE, "other:1:1", ttl=timedelta(minutes=5))
    store.dispose()
    assert main(["--config", str(tmp_path / "pressroom.toml"), "bounces", "process"]) == 1
    assert "another process is processing the bounce mailbox (other:1:1)" in capsys.readouterr().err
    store = open_store(settings.store_url)
    with store.read() as conn:
        row = runs.last_run(conn, "manual")
    store.dispose()
    assert row is not None and row.outcome == "skipped" and row.error is None


def test_cli_lists_escape_inbound_text_and_take_any_since(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A stranger's text cannot drive the terminal; absurd ages are not internal errors."""
    maildir = make_maildir(tmp_path / "Maildir")
    settings = make_settings(
        tmp_path,
        mail={"return_path": "bounces@mail.test"},
        bounces={"source": f"maildir:{maildir}"},
        store={"url": f"sqlite:///{tmp_path / 'store.db'}"},
    )
    config = str(tmp_path / "pressroom.toml")
    from pressroom.store.bounces import BounceEvent, record_event
    from pressroom.store.engine import open_store

    store = open_store(settings.store_url)
    with store.write() as conn:
        add_subscriber(conn, "angry@example.org", status=SubscriberStatus.COMPLAINED)
        record_event(conn, BounceEvent(
            message_key="k", message_id="", received_at=NOW, processed_at=NOW,
            kind=BounceKind.UNKNOWN, diagnostic="subject: \x1b[2J\x1b]0;owned\x07",
        ))  # fmt: skip
    store.dispose()
    assert main(["--config", config, "bounces", "list", "--since", "999999999999d"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J\\x1b]0;owned\\x07" in out
    assert main(["--config", config, "subscribers", "list", "--status", "complained"]) == 0
    assert "angry@example.org" in capsys.readouterr().out


def test_flufl_bounce_errors_are_one_warning_line(caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from pressroom.cli import _setup_logging

    _setup_logging(debug=False)
    flufl = logging.getLogger("flufl.bounce")
    assert flufl.getEffectiveLevel() == logging.WARNING
    with caplog.at_level(logging.WARNING, logger="flufl.bounce"):
        flufl.info("Running detector: %s", "X")  # not shown
        try:
            raise ValueError("odd input")
        except ValueError:
            flufl.exception("Exception in detector: %s", "X")
    (record,) = caplog.records
    assert record.exc_info is None and "ValueError: odd input" in record.getMessage()
