"""Real ``pressroom run`` processes: one digest across workers, feeds never built at once,
SIGTERM lets in-flight messages finish (exit 0), a second signal exits at once."""

from __future__ import annotations

import gzip
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from slowsmtp import SlowRecorder, SmtpServer
from sqlalchemy import select
from storekit import add_subscriber

from pressroom.demo.corpus import load_demo
from pressroom.store import runs
from pressroom.store.engine import Store, open_store
from pressroom.store.schema import deliveries, digests, job_runs

HERE = Path(__file__).parent
PRESSROOM = Path(sys.executable).parent / "pressroom"

pytestmark = pytest.mark.slow


def minute_ago_cron() -> str:
    fired = datetime.now(UTC) - timedelta(minutes=1)
    return f"{fired.minute} {fired.hour} * * *"


def write_config(tmp_path: Path, store_url: str, mail: str = "", feeds: bool = True) -> Path:
    cron = minute_ago_cron()
    feeds_schedule = f'[[schedules]]\nname = "feeds"\njob = "feeds"\ncron = "{cron}"\n'
    feeds_schedule += 'timezone = "UTC"\n'
    if not feeds:
        feeds_schedule = ""
    body = f"""
[site]
name = "测试站"
[store]
url = "{store_url}"
[mail]
outbox = "outbox"
{mail}
[web]
secret = "test-secret-0123456789"

{feeds_schedule}
[[schedules]]
name = "morning"
job = "digest"
cron = "{cron}"
timezone = "UTC"
frequency = "daily"
"""
    path = tmp_path / "pressroom.toml"
    path.write_text(body, encoding="utf-8")
    return path


def seed(store_url: str, subscribers: int) -> None:
    store = open_store(store_url)
    now = datetime.now(UTC)
    try:
        load_demo(store, now, subscribers=False)
        with store.write() as conn:
            for n in range(subscribers):
                add_subscriber(conn, f"reader{n}@example.com", name=f"读者{n}", now=now)
    finally:
        store.dispose()


class Proc:
    """One ``pressroom`` process with its output in files."""

    def __init__(
        self, tmp_path: Path, config: Path, *args: str, slow_feeds: float | None = None
    ) -> None:
        n = next(_numbers)
        self.err_path = tmp_path / f"worker{n}.err"
        command = [str(PRESSROOM)]
        if slow_feeds is not None:
            command = [sys.executable, str(HERE / "slow_feeds_main.py"), str(slow_feeds)]
        with self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [*command, "--config", str(config), *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=tmp_path,
            )

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout)

    @property
    def log(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


_numbers = itertools.count(1)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished_runs(store: Store, schedule: str) -> list[runs.JobRunRow]:
    with store.read() as conn:
        rows = conn.execute(
            select(job_runs).where(
                job_runs.c.schedule == schedule, job_runs.c.finished_at.is_not(None)
            )
        )
        return [runs.JobRunRow.from_row(r._mapping) for r in rows]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


def settled(store: Store, workers: int) -> bool:
    """Every worker is up, the digest run is completed and no job is running."""
    now = datetime.now(UTC)
    with store.read() as conn:
        alive = len(runs.live_workers(conn, max_age=timedelta(minutes=1)))
        done = runs.digest_done_since(conn, "morning", now - timedelta(hours=1))
        running = conn.execute(select(job_runs.c.id).where(job_runs.c.outcome == "running")).all()
    return alive == workers and done and not running


def assert_feed_builds_never_overlap(store: Store) -> list[str]:
    feeds_runs = finished_runs(store, "feeds")
    builds = sorted((r.started_at, r.finished_at) for r in feeds_runs if r.outcome == "ok")
    assert builds
    for (_, end), (start, _) in itertools.pairwise(builds):
        assert end is not None and end <= start, builds  # never two builds at once
    return sorted(r.outcome for r in feeds_runs)


def assert_feed_files_whole(public: Path) -> None:
    """Every file is a finished feed, OPML or page (or a feed's .gz sibling, whole): no temp
    file, nothing cut short."""
    files = [p for p in public.rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".xml", ".json", ".opml", ".html", ".gz"}, files
    for path in files:
        if path.suffix in (".xml", ".opml"):
            ElementTree.parse(path)
        if path.suffix == ".gz":
            assert gzip.decompress(path.read_bytes()) == path.with_suffix("").read_bytes()
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


def test_three_workers_send_one_digest_and_never_build_feeds_at_once(
    tmp_path: Path, shared_url: str, procs: list[Proc]
) -> None:
    seed(shared_url, subscribers=8)
    config = write_config(tmp_path, shared_url)
    workers = [Proc(tmp_path, config, "run", slow_feeds=1.0) for _ in range(3)]
    procs += workers
    store = open_store(shared_url)
    try:
        wait_for(lambda: settled(store, 3), timeout=90, what="the workers' start-up runs")
        time.sleep(1)
        assert settled(store, 3)
        for proc in workers:
            proc.signal()
        assert [proc.wait() for proc in workers] == [0, 0, 0], [p.log for p in workers]
        assert all("stopped" in p.log for p in workers)
        # Every process may have run the digest; the period's run exists once and
        # every subscriber got exactly one message.
        with store.read() as conn:
            run_rows = conn.execute(select(digests).where(digests.c.schedule == "morning")).all()
            rows = conn.execute(select(deliveries.c.status, deliveries.c.attempts)).all()
        assert len(run_rows) == 1 and run_rows[0].status == "completed"
        assert len(rows) == 8 and {r.status for r in rows} == {"sent"}
        assert {r.attempts for r in rows} == {1}
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 8
        assert set(assert_feed_builds_never_overlap(store)) <= {"ok", "skipped"}
        assert_feed_files_whole(tmp_path / "public")
        # Three `run --once` at the same moment: each tries to build the feeds.
        once = [Proc(tmp_path, config, "run", "--once", slow_feeds=1.0) for _ in range(3)]
        procs += once
        assert [proc.wait(90) for proc in once] == [0, 0, 0], [p.log for p in once]
        outcomes = assert_feed_builds_never_overlap(store)
        assert len(outcomes) >= 4 and set(outcomes) <= {"ok", "skipped"}, outcomes
        with store.read() as conn:  # the digest period was done: nothing new was sent
            assert len(conn.execute(select(deliveries.c.id)).all()) == 8
    finally:
        store.dispose()


SLOW_SMTP = """transport = "smtp"
[mail.smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
connections = 1
retries = 0
timeout = 10
"""


def test_sigterm_mid_digest_finishes_in_flight_messages_and_a_restart_sends_the_rest(
    tmp_path: Path, procs: list[Proc]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed(url, subscribers=12)
    handler = SlowRecorder(delay=0.3)
    with SmtpServer(handler) as server:
        config = write_config(tmp_path, url, SLOW_SMTP.format(port=server.port), feeds=False)
        worker = Proc(tmp_path, config, "run")
        procs.append(worker)
        assert handler.first.wait(60), worker.log
        time.sleep(0.15)  # the next message is in flight (0.3 s at the server)
        worker.signal()
        assert worker.wait(30) == 0, worker.log
        store = open_store(url)
        try:
            with store.read() as conn:
                statuses = [r.status for r in conn.execute(select(deliveries.c.status))]
            sent_before = handler.counts()
            assert "sending" not in statuses  # the ledger is consistent
            assert statuses.count("sent") == sum(sent_before.values()) < 12
            assert set(sent_before.values()) == {1}
            assert "stopped" in finished_runs(store, "morning")[0].outcome
            once = Proc(tmp_path, config, "run", "--once", "--log-format", "json")
            procs.append(once)
            assert once.wait(60) == 0, once.log
            lines = [json.loads(line) for line in once.log.splitlines()]
            job_lines = [line for line in lines if line.get("event") == "job_run"]
            assert [(j["job"], j["schedule"], j["outcome"]) for j in job_lines] == [
                ("digest", "morning", "ok")
            ]
            assert "sent" in job_lines[0]["summary"] and job_lines[0]["seconds"] > 0
            got = handler.counts()
            assert len(got) == 12 and set(got.values()) == {1}  # the rest, nobody twice
            with store.read() as conn:
                assert conn.execute(select(digests.c.status)).scalar_one() == "completed"
        finally:
            store.dispose()


def test_a_second_signal_exits_at_once(tmp_path: Path, procs: list[Proc]) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed(url, subscribers=12)
    handler = SlowRecorder(delay=2.0)
    with SmtpServer(handler) as server:
        config = write_config(tmp_path, url, SLOW_SMTP.format(port=server.port), feeds=False)
        worker = Proc(tmp_path, config, "run")
        procs.append(worker)
        assert handler.first.wait(60), worker.log
        time.sleep(0.5)  # the next message is now in flight (2 s at the server)
        worker.signal()
        time.sleep(0.3)
        assert worker.popen.poll() is None  # still finishing its in-flight message
        began = time.monotonic()
        worker.signal()
        assert worker.wait(5) == 128 + signal.SIGTERM
        assert time.monotonic() - began < 2
        assert "second signal" in worker.log
