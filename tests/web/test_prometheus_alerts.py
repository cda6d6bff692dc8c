"""The shipped alert rules under a real Prometheus, scraping ``pressroom serve``.

Debian's ``prometheus`` runs on loopback with ``examples/prometheus/prometheus.yml`` and
``examples/prometheus/alerts.yml`` (only the target, the intervals and every ``for:``
changed, see :mod:`promkit`). A healthy site (a worker that builds the feeds) makes no
alert pending or firing; then each fault the rules name is caused for real and the
matching alert must fire, read back through Prometheus's HTTP API.

Until ``[web] metrics_listen`` lands (issue 19), Prometheus scrapes the public port with
``[web] metrics_token``, as the shipped config's comment says.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import support
from daemonkit import free_port
from digestkit import SITE
from opskit import Site, make_site
from promkit import PROMETHEUS, PrometheusServer
from smtpkit import Recorder, SmtpServer

from pressroom.models import JobOutcome
from pressroom.store import runs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.smtp,
    pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus"),
]

TOKEN = "scrape-token-for-the-test"
FEEDS = '[[schedules]]\nname = "feeds"\njob = "feeds"\ncron = "*/15 * * * *"\n'
DIGESTS = (
    '\n[[schedules]]\nname = "daily"\njob = "digest"\ncron = "0 7 * * *"\n'
    # a digest due every minute, without grace: late a minute after a run that cannot end
    '\n[[schedules]]\nname = "rush"\njob = "digest"\ncron = "* * * * *"\nmisfire_grace = 0\n'
)


class Refusing(Recorder):
    """A relay that refuses every recipient for good (``550``): failed deliveries, bounces."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        return "550 5.1.1 no such user here"


def write_config(
    site: Site, name: str, relay: int, schedules: str, output: Path | None = None
) -> Path:
    """A config of ``site`` (its store) sending to 127.0.0.1:``relay``, as file ``name``."""
    mail = {
        **SITE["mail"],
        "transport": "smtp",
        "smtp": {"host": "127.0.0.1", "port": relay, "tls": "none", "retries": 0, "timeout": 5.0},
    }
    tables: dict[str, dict[str, object]] = {
        "site": SITE["site"],
        "web": {**SITE["web"], "secret": support.SECRET, "metrics_token": TOKEN},
        "mail": mail,
        "store": {"url": site.settings.store_url},
        "feeds": {"output_dir": str(output or site.folder / "public")},
    }
    path = site.folder / name
    path.write_text(support.toml_text(tables) + schedules, encoding="utf-8")
    return path


def pressroom(config: Path, *args: str) -> subprocess.Popen[str]:
    """``pressroom --config CONFIG ARGS`` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
    )


def finished(command: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str]:
    """Wait for a command; its exit code and what it printed on stderr."""
    _, err = command.communicate(timeout=timeout)
    return command.returncode, err


@pytest.fixture
def started() -> Iterator[Callable[[subprocess.Popen[str]], subprocess.Popen[str]]]:
    """Processes the test starts, killed at the end whatever happened."""
    processes: list[subprocess.Popen[str]] = []

    def keep(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
        processes.append(process)
        return process

    yield keep
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.3)


def test_each_fault_fires_its_alert_and_a_healthy_site_fires_none(
    tmp_path: Path,
    store_url: str,
    smtp_server: Callable[..., SmtpServer],
    started: Callable[[subprocess.Popen[str]], subprocess.Popen[str]],
) -> None:
    refusing = smtp_server(Refusing())
    site = make_site(tmp_path, store_url=store_url, count=30)
    serving = write_config(site, "serve.toml", refusing.port, FEEDS + DIGESTS)
    working = write_config(site, "worker.toml", refusing.port, FEEDS)
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    broken = write_config(site, "broken.toml", refusing.port, FEEDS, tmp_path / "a-file" / "out")
    nobody = write_config(site, "rush.toml", free_port(), FEEDS + DIGESTS)  # no relay there

    serve = started(pressroom(serving, "serve", "--host", "127.0.0.1", "--port", "0"))
    assert serve.stdout is not None
    line = serve.stdout.readline()
    match = re.search(r"serving http://([0-9.]+:\d+)/", line)
    assert match, line + (serve.stderr.read() if serve.stderr else "")
    worker = started(pressroom(working, "run"))

    def feeds_built() -> bool:
        with site.store.read() as conn:
            return runs.newest_run(conn, job="feeds", skips=False) is not None

    wait_for(feeds_built, 60, "feeds build by the worker")
    prometheus = PrometheusServer(match.group(1), token=TOKEN).start()
    try:
        # Healthy: scraped, a worker alive, the feeds built; nothing pending, nothing firing.
        wait_for(prometheus.targets_up, 30, "successful scrape")
        wait_for(lambda: bool(prometheus.query("pressroom_workers_alive == 1")), 30, "worker")
        time.sleep(5)  # longer than every rule's shortened `for:`
        assert prometheus.alerts() == []
        feeds_age = 'pressroom_schedule_last_success_age_seconds{pressroom_job="feeds"}'
        assert [s["labels"]["schedule"] for s in prometheus.query(feeds_age)] == ["feeds"]

        # The faults: the worker killed, a feeds build that fails, a digest whose relay
        # is gone (it cannot complete), one whose relay refuses everyone (failed
        # deliveries, 30 addresses bounced within the hour).
        worker.send_signal(signal.SIGKILL)
        code, err = finished(pressroom(broken, "feeds", "build", "--force"))
        assert code == 1, err
        code, err = finished(pressroom(nobody, "digest", "send", "--schedule", "rush"))
        assert code == 1, err
        code, err = finished(pressroom(serving, "digest", "send", "--schedule", "daily"))
        with site.store.read() as conn:
            assert runs.newest_run(conn, job="feeds").outcome is JobOutcome.FAILED  # type: ignore[union-attr]

        prometheus.wait_firing("PressroomJobFailing", 20, pressroom_job="feeds", outcome="failed")
        prometheus.wait_firing("PressroomDeliveryFailures", 30, schedule="daily")
        prometheus.wait_firing("PressroomBouncesRising", 30)
        prometheus.wait_firing("PressroomWorkerDown", 60)
        prometheus.wait_firing("PressroomDigestLate", 120, schedule="rush")
        firing = {a["alertname"] for a in prometheus.alerts("firing")}
        assert "PressroomComplaintsRising" not in firing  # nobody complained
    finally:
        prometheus.stop()
        site.store.dispose()
