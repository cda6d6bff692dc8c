"""The command line end to end, as a newcomer runs it: real processes in a temp dir."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select

from pressroom.store.articles import list_sections
from pressroom.store.engine import open_store
from pressroom.store.schema import articles


def pressroom(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pressroom", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_help_lists_every_command(tmp_path: Path) -> None:
    done = pressroom("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in (
        "demo",
        "init",
        "config",
        "import",
        "feeds",
        "digest",
        "subscribers",
        "bounces",
        "run",
        "serve",
        "status",
    ):
        assert command in done.stdout


@pytest.mark.slow
def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert pressroom("frobnicate", cwd=tmp_path).returncode == 2
    assert pressroom("feeds", "build", "--nope", cwd=tmp_path).returncode == 2


@pytest.mark.slow
def test_missing_config_is_one_sentence(tmp_path: Path) -> None:
    done = pressroom("config", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "pressroom.toml: config file not found (create one with `pressroom init`)"
    )


@pytest.mark.slow
def test_init_then_check_then_import(tmp_path: Path) -> None:
    done = pressroom("init", "site", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "site" / "pressroom.toml"
    assert "# " in config.read_text("utf-8") and (tmp_path / "site" / "pressroom.db").exists()
    assert pressroom("--config", str(config), "config", "check", cwd=tmp_path).returncode == 0
    again = pressroom("init", "site", cwd=tmp_path)
    assert again.returncode == 0 and "kept" in again.stdout

    row = {
        "url": "https://x.example.cn/1.html",
        "section": "要闻",
        "title": "权威消息",
        "published_at": "2026-11-28 08:00",
    }
    lines = json.dumps(row, ensure_ascii=False) + "\n{broken\n"
    done = pressroom("--config", str(config), "import", "-", cwd=tmp_path, stdin=lines)
    assert done.returncode == 1
    assert "line 2: not valid JSON" in done.stderr and "1 new" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_config_check_on_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "pressroom.toml").write_text("[mail.smtp]\nport = 'x'\n[[sections]\n", "utf-8")
    done = pressroom("config", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert "line 3" in done.stderr and "TOML syntax error" in done.stderr


@pytest.mark.slow
def test_pressroom_config_env_names_the_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pressroom", "config", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PRESSROOM_CONFIG": str(tmp_path / "elsewhere.toml"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 2 and "elsewhere.toml: config file not found" in done.stderr


class _Hub(http.server.BaseHTTPRequestHandler):
    """A WebSub hub that accepts every publish ping (so httpx has requests to log)."""

    pings: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        _Hub.pings.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
def test_demo_makes_the_whole_site_and_is_safe_to_repeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    monkeypatch.setenv("PRESSROOM_FEEDS__WEBSUB_HUB", f"http://127.0.0.1:{hub.server_port}/")
    try:
        done = pressroom("demo", cwd=tmp_path)
    finally:
        hub.shutdown()
        hub.server_close()
    assert done.returncode == 0, done.stderr
    assert _Hub.pings  # httpx made requests, and logged none of them
    assert done.stderr == ""  # no library's log lines
    assert re.search(r"\b1 recipient;", done.stdout) and "1 recipients" not in done.stdout
    assert "pressroom-demo/public/digests/index.html" in done.stdout
    demo = tmp_path / "pressroom-demo"
    store = open_store(f"sqlite:///{demo / 'pressroom.db'}")
    with store.read() as conn:
        names = [section.name for section in list_sections(conn)]
        seed = conn.execute(
            select(articles).where(articles.c.title == "亲自部署!习近平:坚决打赢疫情防控阻击战")
        ).one()
    store.dispose()
    assert len(names) == 22 and names[:3] == ["热点关注", "本站头条", "重要讲话"]
    assert seed.section == "zhongyao-jianghua"
    assert seed.published_at == datetime(2020, 1, 31, 14, 51, tzinfo=UTC)
    assert seed.views == 1539 and seed.authors == "文字:岳小乔;视频:王靖远;图片:王宇峰"

    assert (demo / "public" / "zhongyao-jianghua" / "rss.xml").exists()
    assert (demo / "public" / "feeds.opml").exists() and (demo / "public" / "index.html").exists()
    mails = sorted((demo / "outbox").glob("*.eml"))
    assert mails, done.stdout
    rss = (demo / "public" / "all" / "rss.xml").stat()
    archive = (demo / "public" / "digests" / "index.html").stat()

    again = pressroom("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted((demo / "outbox").glob("*.eml")) == mails  # nobody gets the digest twice
    assert (demo / "public" / "all" / "rss.xml").stat().st_mtime_ns == rss.st_mtime_ns
    assert (demo / "public" / "digests" / "index.html").stat().st_mtime_ns == archive.st_mtime_ns


@pytest.mark.slow
def test_feeds_build_waits_its_turn_behind_a_workers_lease(tmp_path: Path) -> None:
    from datetime import timedelta

    from pressroom.store.runs import acquire_lease, release_lease

    assert pressroom("init", "site", cwd=tmp_path).returncode == 0
    config = str(tmp_path / "site" / "pressroom.toml")
    store = open_store(f"sqlite:///{tmp_path / 'site' / 'pressroom.db'}")
    with store.write() as conn:
        assert acquire_lease(conn, "feeds", "other-host:1:1", ttl=timedelta(minutes=2))
    done = pressroom("--config", config, "feeds", "build", cwd=tmp_path)
    assert done.returncode == 1
    assert "another process is building the feeds (other-host:1:1)" in done.stderr
    with store.write() as conn:
        release_lease(conn, "feeds", "other-host:1:1")
    store.dispose()
    assert pressroom("--config", config, "feeds", "build", cwd=tmp_path).returncode == 0
