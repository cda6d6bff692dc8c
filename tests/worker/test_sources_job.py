"""The ``sources`` job in a running ``pressroom run``: a CMS commit reaches the feed files
within seconds (interval 1 s, the watch on), a sync that finds nothing is not a run, and a
source that cannot be read is a failed run in ``job_runs`` and in ``pressroom status`` while
the worker and the other sources go on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from pressroom.store.engine import open_store
from pressroom.store.schema import job_runs

PRESSROOM = Path(sys.executable).parent / "pressroom"

pytestmark = pytest.mark.slow


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    cms = f"sqlite:///{tmp_path / 'cms.db'}"
    engine = create_engine(cms)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (url TEXT, section TEXT, title TEXT, changed TEXT)"
        )
    engine.dispose()
    config = tmp_path / "pressroom.toml"
    config.write_text(
        f"""
[site]
base_url = "https://news.example.cn/"
[store]
url = "sqlite:///{tmp_path / "store.db"}"
[feeds]
watch = "1s"
[web]
secret = "test-secret-0123456789"
[[sections]]
slug = "domestic"
name = "国内"
[[schedules]]
name = "feeds"
job = "feeds"
cron = "0 0 1 1 *"
[sources.cms]
kind = "sql"
url = "{cms}"
interval = 1
timezone = "UTC"
query = "SELECT url, section, title, changed AS published_at FROM items WHERE changed >= :since"
[sources.down]
kind = "sql"
url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
interval = 1
query = "SELECT url FROM x WHERE t >= :since"
""",
        encoding="utf-8",
    )
    worker = subprocess.Popen(
        [str(PRESSROOM), "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        yield tmp_path, cms
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out[-3000:]


def runs(folder: Path) -> list[tuple[str, str, str, str | None]]:
    store = open_store(f"sqlite:///{folder / 'store.db'}")
    try:
        with store.read() as conn:
            rows = conn.execute(
                select(job_runs.c.job, job_runs.c.schedule, job_runs.c.outcome, job_runs.c.error)
            ).all()
    finally:
        store.dispose()
    return [(r.job, r.schedule, r.outcome, r.error) for r in rows]


def test_a_cms_commit_reaches_the_feed_and_a_dead_source_shows_in_status(
    site: tuple[Path, str],
) -> None:
    folder, cms = site
    feed = folder / "public" / "domestic" / "rss.xml"
    time.sleep(3)  # the first syncs (nothing to read) and the first build
    engine = create_engine(cms)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO items VALUES ('https://news.example.cn/1.html', '国内', '新文章', "
            "datetime('now'))"
        )
    engine.dispose()

    waited = wait_until(lambda: feed.exists() and "新文章" in feed.read_text(encoding="utf-8"))

    assert waited < 5
    recorded = runs(folder)
    synced = [r for r in recorded if r[:3] == ("sources", "cms", "ok")]
    assert len(synced) == 1  # only the sync that wrote something is a run
    failed = [r for r in recorded if r[:3] == ("sources", "down", "failed")]
    assert failed and failed[0][3] is not None
    assert "secret" not in failed[0][3] and "\n" not in failed[0][3]
    assert failed[0][3].startswith("SourceUnavailable: source down: cannot read postgresql")
    status = subprocess.run(
        [str(PRESSROOM), "--config", str(folder / "pressroom.toml"), "status", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.returncode == 1  # a source's newest sync failed
    shown = {s["source"]: s for s in json.loads(status.stdout)["sources"]}
    assert shown["cms"]["last_run"]["outcome"] == "ok" and not shown["cms"]["failed"]
    assert shown["down"]["failed"]
    assert "source down: cannot read" in shown["down"]["last_run"]["error"]
