"""Against real servers: raw HTTP to uvicorn, ``pressroom serve`` as a process, newsboat."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from storekit import add_subscriber
from webkit import SECRET, LiveServer, make_settings, write_feeds

from pressroom.cli import main
from pressroom.clock import system_clock
from pressroom.models import SubscriberStatus
from pressroom.store.engine import Store, open_store
from pressroom.store.subscribers import find_subscriber
from pressroom.tokens import make_token
from pressroom.web import create_app
from pressroom.wiring import feed_config

LOCAL = ("--host", "127.0.0.1", "--port", "0")


class Recorder:
    """An ASGI wrapper that records (method, path, status) of every answered request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, recording_send)


def _serve_tiny_site(tmp_path: Path) -> Iterator[tuple[LiveServer, Recorder]]:
    holder: dict[str, Any] = {}

    def factory(url: str) -> object:
        settings = make_settings(tmp_path, public_url=url)
        write_feeds(settings.path(settings.feeds.output_dir))
        store = open_store(settings.store_url)
        holder["store"] = store
        holder["app"] = Recorder(create_app(settings, store, system_clock))
        return holder["app"]

    with LiveServer(factory) as server:
        yield server, holder["app"]
    holder["store"].dispose()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Recorder]]:
    """A fresh server (the request log starts empty)."""
    yield from _serve_tiny_site(tmp_path)


@pytest.fixture(scope="module")
def shared_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Recorder]]:
    """One server for the many stateless raw-request checks."""
    yield from _serve_tiny_site(tmp_path_factory.mktemp("live"))


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """Send one request line exactly as written (no client normalising it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize(
    "target",
    [
        "/../pressroom.toml",
        "/../../../../etc/passwd",
        "/%2e%2e/pressroom.toml",
        "/all/%2E%2E/%2e%2e/pressroom.toml",
        "/all/..%2f..%2fpressroom.toml",
        "/..%5cpressroom.toml",
        "/%2e%2e%5cpressroom.toml",
        "/all/rss.xml%00",
        "/%c0%ae%c0%ae/pressroom.toml",
        "http://x/../pressroom.toml",
        "/./../store.db",
    ],
)
def test_raw_traversal_requests_to_uvicorn_are_refused(
    shared_live: tuple[LiveServer, Recorder], target: str
) -> None:
    server, _ = shared_live
    status, data = raw_get(server.port, target)
    assert status in (400, 404)
    assert b"secret" not in data and b"root:" not in data and b"SQLite" not in data


def test_raw_request_for_a_feed_works(shared_live: tuple[LiveServer, Recorder]) -> None:
    server, _ = shared_live
    status, data = raw_get(server.port, "/all/rss.xml")
    assert status == 200 and "第一条新闻".encode() in data


@pytest.mark.slow
def test_pressroom_serve_process(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="http://127.0.0.1:9/")
    write_feeds(settings.path(settings.feeds.output_dir))
    store = open_store(settings.store_url)
    with store.write() as conn:
        sub = add_subscriber(conn, "r@example.com", now=datetime.now(UTC))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    command = [sys.executable, "-m", "pressroom", "--config", str(settings.source), "serve"]
    with subprocess.Popen(
        [*command, *LOCAL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            _exercise(process, store, sub.public_key)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
            assert process.stdout is not None
            assert "pressroom: stopped" in process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
            store.dispose()


def _exercise(process: subprocess.Popen[str], store: Store, public_key: str) -> None:
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("pressroom: serving http://127.0.0.1:"), first
    base = first.split()[2]
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/healthz").json()["store"] == "ok"
        feed = http.get("/all/rss.xml")
        assert feed.status_code == 200
        again = http.get("/all/rss.xml", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304
        token = make_token(SECRET, "unsubscribe", public_key, datetime.now(UTC))
        assert http.get(f"/unsubscribe/{token}").status_code == 200
        with store.read() as conn:
            still = find_subscriber(conn, "r@example.com")
        assert still is not None and still.status == SubscriberStatus.ACTIVE
        one_click = http.post(
            f"/unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
        with store.read() as conn:
            gone = find_subscriber(conn, "r@example.com")
        assert gone is not None and gone.status == SubscriberStatus.UNSUBSCRIBED


def test_serve_without_secret_exits_2_naming_web_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pressroom.toml"
    config.write_text('[store]\nurl = "sqlite:///s.db"\n', encoding="utf-8")
    assert main(["--config", str(config), "serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "web.secret" in err
    assert "Traceback" not in err


NEWSBOAT = shutil.which("newsboat")
RELOAD = ("-x", "reload")


@pytest.mark.external
@pytest.mark.skipif(NEWSBOAT is None, reason="needs newsboat (Debian package newsboat)")
def test_newsboat_reads_the_served_feeds_and_revalidates(
    live: tuple[LiveServer, Recorder], tmp_path: Path
) -> None:
    server, recorder = live
    home = tmp_path / "home"
    home.mkdir()
    urls = home / "urls"
    urls.write_text(f"{server.url}all/rss.xml\n", encoding="utf-8")
    (home / "config").write_text("reload-threads 1\n", encoding="utf-8")
    cache = home / "cache.db"
    command = [str(NEWSBOAT), "-C", str(home / "config"), "-u", str(urls), "-c", str(cache)]
    env = {**os.environ, "HOME": str(home)}
    # newsboat 2.21 stores the validators only once the feed has a cache row, i.e. from
    # the second reload on; the third one revalidates.
    for _ in range(3):
        result = subprocess.run(
            [*command, "-x", "reload"], capture_output=True, text=True, env=env, timeout=60
        )
        assert result.returncode == 0, result.stderr
    with sqlite3.connect(cache) as db:
        titles = {row[0] for row in db.execute("SELECT title FROM rss_item")}
        etag = db.execute("SELECT etag FROM rss_feed").fetchone()[0]
    assert titles == {"第一条新闻:坚决打赢疫情防控阻击战", "第二条新闻"}
    assert etag.startswith('"')
    statuses = [status for method, path, status in recorder.seen if path == "/all/rss.xml"]
    assert statuses == [200, 200, 304]  # the third reload revalidated


@pytest.mark.external
@pytest.mark.slow
@pytest.mark.skipif(NEWSBOAT is None, reason="needs newsboat (Debian package newsboat)")
def test_newsboat_reads_the_demo_feeds_over_http(tmp_path: Path) -> None:
    feeds = pytest.importorskip("pressroom.feeds")
    load_demo = pytest.importorskip("pressroom.demo.corpus").load_demo
    holder: dict[str, Any] = {}

    def factory(url: str) -> object:
        settings = make_settings(tmp_path, public_url=url)
        store = open_store(settings.store_url)
        now = datetime.now(UTC)
        load_demo(store, now, subscribers=False)
        feeds.build_feeds(feed_config(settings), store, now=now)
        holder["store"] = store
        return create_app(settings, store, system_clock)

    home = tmp_path / "home"
    home.mkdir()
    (home / "config").write_text("reload-threads 1\n", encoding="utf-8")
    paths = ["all/rss.xml", "all/atom.xml", "zhongyao-jianghua/rss.xml"]
    titles: dict[str, set[str]] = {}
    with LiveServer(factory) as server:
        # One cache per feed: newsboat keeps one row per entry id across all its feeds,
        # and the same article is (rightly) the same entry in every feed.
        for number, feed in enumerate(paths):
            urls = home / f"urls{number}"
            urls.write_text(f"{server.url}{feed}\n", encoding="utf-8")
            cache = home / f"cache{number}.db"
            config = str(home / "config")
            result = subprocess.run(
                [str(NEWSBOAT), "-C", config, "-u", str(urls), "-c", str(cache), *RELOAD],
                capture_output=True,
                text=True,
                env={**os.environ, "HOME": str(home)},
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
            with sqlite3.connect(cache) as db:
                titles[feed] = {row[0] for row in db.execute("SELECT title FROM rss_item")}
    holder["store"].dispose()
    assert all(len(found) > 0 for found in titles.values()), titles
    assert any("坚决打赢疫情防控阻击战" in title for title in titles["zhongyao-jianghua/rss.xml"])
    assert titles["all/rss.xml"] == titles["all/atom.xml"]
