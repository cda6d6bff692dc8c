"""``digest send`` stopped by Ctrl-C: messages in flight finish, the run stays open, and
the next ``digest send`` delivers the rest, nobody twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from digestkit import add_articles, add_subscriber, article, make_settings
from smtpkit import Recorder
from support import yesterday

from pressroom.models import Priority
from pressroom.store.engine import open_store

pytestmark = [pytest.mark.smtp, pytest.mark.slow]
PEOPLE = 12


def _send(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(config), "digest", "send"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_first_sigint_stops_cleanly_and_a_second_send_finishes(
    tmp_path: Path,
    smtp_server,  # type: ignore[no-untyped-def]
) -> None:
    recorder = Recorder(delay=0.25)
    server = smtp_server(recorder)
    settings = make_settings(
        tmp_path,
        f'transport = "smtp"\n[mail.smtp]\nhost = "{server.host}"\nport = {server.port}\n'
        'tls = "none"\nconnections = 1\ntimeout = 5.0\n',
    )
    store = open_store(settings.store_url)
    now = yesterday()  # in the window of a digest sent today
    add_articles(store, [article(1, "news", now - timedelta(hours=1), priority=Priority.HEADLINE)])
    for n in range(PEOPLE):
        add_subscriber(store, f"reader{n:02d}@example.com")
    store.dispose()
    config = tmp_path / "pressroom.toml"

    first = _send(config)
    deadline = time.monotonic() + 30
    while len(recorder.snapshot()) < 2 and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    assert len(recorder.snapshot()) >= 2, "the sender delivered nothing in 30 s"
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 1, err
    assert "run open" in out and "stopping after the messages in flight" in err, (out, err)
    delivered_first = len(recorder.snapshot())
    assert 2 <= delivered_first < PEOPLE

    second = _send(config)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "run completed" in out
    got = Counter(r.rcpt_tos[0] for r in recorder.snapshot())
    assert len(got) == PEOPLE and set(got.values()) == {1}
