"""A running ``pressroom run`` with ``[feeds] watch = "1s"``: an article another process
commits is in its section's feeds and in ``all/`` within 3 s, a loopback WebSub hub is told
of each changed feed and fetches the two it has subscribers for, and nothing is rebuilt or
pinged while nothing changes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hubkit import Hub, running_hub, static_server, wait_until
from sqlalchemy import select

from pressroom.models import Section
from pressroom.store.articles import sync_sections, upsert_articles
from pressroom.store.engine import open_store
from pressroom.store.schema import job_runs

HERE = Path(__file__).parent
PRESSROOM = Path(sys.executable).parent / "pressroom"
SECTIONS = [Section("yaowen", "要闻", 3.0, 0), Section("tiyu", "体育", 0.0, 1)]
BASE = "https://news.example.cn/"
FILES = ("rss.xml", "atom.xml", "feed.json")

pytestmark = pytest.mark.slow


def article(n: int, section: str, published: datetime, title: str) -> dict[str, object]:
    return {
        "url": f"{BASE}{section}/{n}.html",
        "section": section,
        "title": title,
        "summary": f"{title}的摘要。",
        "body_html": f"<p>{title}的正文。</p>",
        "authors": "文字:记者",
        "image_url": None,
        "published_at": published.isoformat(),
        "updated_at": None,
        "views": 0,
        "priority": 0,
        "status": "published",
    }


def write_config(root: Path, site_url: str, hub_url: str) -> Path:
    sections = "".join(
        f'[[sections]]\nslug = "{s.slug}"\nname = "{s.name}"\nweight = {s.weight}\n'
        f'url = "{BASE}{s.slug}/"\n'
        for s in SECTIONS
    )
    path = root / "pressroom.toml"
    path.write_text(
        f"""
[site]
name = "测试新闻网"
base_url = "{BASE}"
[store]
url = "sqlite:///{root / "store.db"}"
[feeds]
output_dir = "public"
public_url = "{site_url}"
websub_hub = "{hub_url}"
watch = "1s"
[web]
secret = "test-secret-0123456789"
{sections}
[[schedules]]
name = "feeds"
job = "feeds"
cron = "0 0 1 1 *"
""",
        encoding="utf-8",
    )
    return path


def watch_runs(store_url: str) -> list[tuple[str, str]]:
    store = open_store(store_url)
    try:
        with store.read() as conn:
            rows = conn.execute(select(job_runs.c.trigger, job_runs.c.outcome)).all()
    finally:
        store.dispose()
    return [(r.trigger, r.outcome) for r in rows if r.trigger == "watch"]


def stamps(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Hub, str]]:
    hub, hub_server = running_hub()
    out = tmp_path / "public"
    with hub_server, static_server(out) as web:
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        store = open_store(store_url)
        now = datetime.now(UTC)
        with store.write() as conn:
            sync_sections(conn, SECTIONS)
            rows = [
                article(1, "yaowen", now - timedelta(hours=2), "要闻一"),
                article(2, "tiyu", now - timedelta(hours=1), "体育一"),
            ]
            for r in rows:
                r["published_at"] = datetime.fromisoformat(str(r["published_at"]))
            upsert_articles(conn, rows, now)
        store.dispose()
        config = write_config(tmp_path, web.url, hub.hub_url)
        for topic in (f"{web.url}tiyu/rss.xml", f"{web.url}all/atom.xml"):
            hub.subscribe(topic)
        worker = subprocess.Popen(
            [str(PRESSROOM), "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            yield tmp_path, hub, web.url
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=30)[0].decode()
            assert worker.returncode == 0, output


def test_an_article_from_another_process_is_published_and_announced_within_3s(
    site: tuple[Path, Hub, str],
) -> None:
    root, hub, site_url = site
    out, store_url = root / "public", f"sqlite:///{root / 'store.db'}"
    # the watch's first look builds what the store holds (no feeds were built yet)
    wait_until(lambda: (out / "tiyu" / "rss.xml").is_file() and (out / "index.html").is_file(), 15)
    wait_until(lambda: len(hub.published_urls()) >= 9, 10)  # all/, yaowen/, tiyu/ x 3
    time.sleep(1.5)  # let the first build's own commits pass through the watch

    # nothing changes: nothing is rebuilt, no hub is told, no run is recorded
    before, pings, runs_before = stamps(out), len(hub.pings), watch_runs(store_url)
    assert runs_before == [("watch", "ok")]
    time.sleep(3.5)
    assert stamps(out) == before and len(hub.pings) == pings
    assert watch_runs(store_url) == runs_before

    # another process commits a 体育 article
    row = article(3, "tiyu", datetime.now(UTC) - timedelta(minutes=1), "女排夺冠")
    written = subprocess.run(
        [sys.executable, str(HERE / "cms_write.py"), store_url, json.dumps(row)],
        capture_output=True,
        check=True,
        text=True,
    )
    committed = float(written.stdout.split()[-1])
    wanted = [out / folder / file for folder in ("tiyu", "all") for file in FILES]
    wait_until(lambda: all(b"/tiyu/3.html" in p.read_bytes() for p in wanted), 5)
    assert time.time() - committed <= 3.0
    # the hub is told of each changed feed (and only those), then fetches the subscribed two
    expected = {f"{site_url}{folder}/{file}" for folder in ("tiyu", "all") for file in FILES}
    wait_until(lambda: set(hub.published_urls()[_count(hub, pings) :]) >= expected, 5)
    assert set(hub.published_urls()[_count(hub, pings) :]) == expected
    wait_until(lambda: sum(b"/tiyu/3.html" in d.body for d in hub.deliveries) == 2, 5)
    # one commit, one build, one recorded run
    assert watch_runs(store_url) == [*runs_before, ("watch", "ok")]
    assert (out / "yaowen" / "rss.xml").stat().st_mtime_ns == before["yaowen/rss.xml"]


def _count(hub: Hub, pings: int) -> int:
    """How many URLs the first ``pings`` publish requests named."""
    return sum(len(p.urls) for p in hub.pings[:pings])
