"""WebSub through a hub nobody of this project wrote: flask-websub's, from PyPI.

A flask-websub subscriber discovers the hub and the topic of an RSS, an Atom and a JSON
feed from the ``Link`` headers ``pressroom serve`` sends, and subscribes through
flask-websub's hub (which verifies its intent). Then an article is imported and
published, by ``pressroom feeds build`` (a command that exits right after the build) and
by ``pressroom run`` (the watch); the hub must be pinged, fetch each feed from ``pressroom
serve``, accept its ``Link`` headers, and push the new content to the subscriber.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemonkit import free_port
from flaskhubkit import FlaskHub, running_flask_hub
from servekit import SECRET, ServeProcess, clean_env, make_demo

from pressroom.demo.corpus import DEMO_BASE_URL

pytestmark = pytest.mark.slow

FEEDS = ["all/rss.xml", "all/atom.xml", "all/feed.json"]


def wait_for(condition: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


class Site:
    """The demo site with flask-websub's hub configured, served by ``pressroom serve``."""

    def __init__(self, directory: Path, hub: FlaskHub) -> None:
        port = free_port()
        self.public_url = f"http://127.0.0.1:{port}/"
        self.env = {
            "PRESSROOM_WEB__PUBLIC_URL": self.public_url,
            "PRESSROOM_FEEDS__WEBSUB_HUB": hub.hub_url,
            "PRESSROOM_WEB__SECRET": SECRET,
        }
        self.config = make_demo(directory, self.public_url)
        self.directory = directory
        self.port = port

    def pressroom(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pressroom", "--config", str(self.config), *args]
        return subprocess.run(
            command, capture_output=True, text=True, env=clean_env(**self.env), timeout=timeout
        )

    def add_article(self, title: str) -> None:
        now = datetime.now(UTC).isoformat()
        article = {
            "url": f"{DEMO_BASE_URL}interop/{abs(hash(title))}.html",
            "section": "quanwei-fabu",
            "title": title,
            "summary": f"{title}的摘要。",
            "body_html": f"<p>{title}的正文。</p>",
            "published_at": now,
            "updated_at": now,
            "status": "published",
        }
        source = self.directory / f"{abs(hash(title))}.jsonl"
        source.write_text(json.dumps(article, ensure_ascii=False) + "\n", encoding="utf-8")
        imported = self.pressroom("import", str(source))
        assert imported.returncode == 0, imported.stderr


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskHub]:
    with running_flask_hub(tmp_path_factory.mktemp("flaskhub")) as running:
        yield running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, hub: FlaskHub) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("interop") / "site", hub)
    with ServeProcess(site.config, env=site.env, port=site.port) as served:
        assert served.url == site.public_url
        topics = [hub.subscribe(f"{site.public_url}{feed}") for feed in FEEDS]
        assert topics == [f"{site.public_url}{feed}" for feed in FEEDS]  # self = the URL
        yield site


def delivered(hub: FlaskHub, site: Site, title: str) -> bool:
    return all(
        any(title.encode() in body for body in hub.bodies(f"{site.public_url}{feed}"))
        for feed in FEEDS
    )


def test_feeds_build_delivers_a_new_article_to_rss_atom_and_json_subscribers(
    hub: FlaskHub, site: Site
) -> None:
    title = "互操作测试:命令行构建后的新文章"
    site.add_article(title)
    built = site.pressroom("feeds", "build")
    assert built.returncode == 0, built.stderr
    # the command says so once the hub took the pings
    assert re.search(
        rf"^websub   {re.escape(hub.hub_url)}: told of \d+ changed", built.stdout, re.M
    )
    # the command exits only after the hub has been told (it waits for the pings)
    wait_for(lambda: delivered(hub, site, title), 20, "the subscriber got the new article")
    assert hub.tasks.errors == []


def test_run_once_delivers_a_new_article(hub: FlaskHub, site: Site) -> None:
    title = "互操作测试:run --once 之后的新文章"
    site.add_article(title)
    ran = site.pressroom("run", "--once")
    assert ran.returncode == 0, ran.stderr
    wait_for(lambda: delivered(hub, site, title), 20, "the subscriber got the new article")
    assert hub.tasks.errors == []


def test_the_running_worker_with_its_watch_delivers_a_new_article(
    hub: FlaskHub, site: Site
) -> None:
    command = [sys.executable, "-m", "pressroom", "--config", str(site.config), "run"]
    with subprocess.Popen(
        command,
        env=clean_env(**site.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            time.sleep(3)  # its start-up catch-up and first build
            title = "互操作测试:监视构建后的新文章"
            site.add_article(title)
            took = wait_for(lambda: delivered(hub, site, title), 30, "delivered by the watch")
            assert took < 30
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=90)
            finally:
                if worker.poll() is None:
                    worker.kill()
    assert hub.tasks.errors == []
