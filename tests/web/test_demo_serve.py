"""The issue's check: Chromium against ``pressroom serve`` on ``pressroom demo``.

The demo's own digests carry ``List-Unsubscribe`` links; their one-click POST must
unsubscribe through the served app (the digest and the web app agree on the link shape).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from webkit import CHROMIUM, CHROMIUM_ARGS, mail_link, shoot, wait_for_mail

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian chromium)"),
]

SECRET = "demo-serve-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_of(db: Path, email: str) -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status FROM subscribers WHERE email = ?", (email,)).fetchone()
    return str(row[0]) if row else "missing"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """``pressroom demo`` in a temp dir, then ``pressroom serve`` on a free port."""
    directory = tmp_path_factory.mktemp("demo") / "site"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    env.update(PRESSROOM_WEB__SECRET=SECRET, PRESSROOM_WEB__PUBLIC_URL=url)
    made = subprocess.run(
        [sys.executable, "-m", "pressroom", "demo", str(directory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr
    config = str(directory / "pressroom.toml")
    serve = [sys.executable, "-m", "pressroom", "--config", config, "serve", "--port", str(port)]
    with subprocess.Popen(serve, stdout=subprocess.PIPE, text=True, env=env) as server:
        try:
            assert server.stdout is not None
            assert server.stdout.readline().startswith(f"pressroom: serving {url}")
            yield directory, url
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=15) == 0
        finally:
            if server.poll() is None:
                server.kill()


def test_demo_digest_one_click_unsubscribe_works_on_the_served_app(
    demo: tuple[Path, str],
) -> None:
    directory, url = demo
    digests = sorted((directory / "outbox").glob("*.eml"))
    assert digests, "the demo delivered no digest"
    message = message_from_bytes(digests[0].read_bytes(), policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"]))
    assert link, message["List-Unsubscribe"]
    recipient = str(message["To"]).split("<")[-1].rstrip(">")
    assert link.group(1).startswith(url)
    with httpx.Client(timeout=10) as http:
        assert http.get(link.group(1)).status_code == 200
        assert status_of(directory / "pressroom.db", recipient) == "active"
        response = http.post(
            link.group(1),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    assert status_of(directory / "pressroom.db", recipient) == "unsubscribed"


def test_subscribe_flow_in_chromium_against_pressroom_serve(demo: tuple[Path, str]) -> None:
    from playwright.sync_api import sync_playwright

    directory, url = demo
    outbox = directory / "outbox"
    before = len(list(outbox.glob("*.eml")))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page: Any = browser.new_page(viewport={"width": 375, "height": 900}, locale="zh-CN")
        page.goto(url)
        assert "pressroom:subscribe" not in page.content()
        page.click("text=邮件订阅要闻")  # the jump link under the heading
        form = page.locator("form.subscribe-form")
        form.locator("input[name=email]").fill("demo-reader@example.com")
        form.locator("input[name=sections]").nth(3).check()
        form.locator("button[type=submit]").click()
        page.wait_for_selector("text=请查收邮件")
        mails = wait_for_mail(outbox, before + 1)
        newest = max(mails, key=lambda p: p.stat().st_mtime_ns)
        page.goto(mail_link(newest.read_bytes()))
        page.click("button:has-text('确认订阅')")
        page.wait_for_selector("text=订阅已确认")
        shoot(page, "demo-confirmed")
        assert status_of(directory / "pressroom.db", "demo-reader@example.com") == "active"
        page.click("text=修改栏目与频率")
        page.locator("input[name=frequency][value=weekly]").check()
        page.click("button[value=save]")
        page.wait_for_selector("text=已保存")
        page.click("button[value=unsubscribe]")
        page.wait_for_selector("text=您已退订")
        shoot(page, "demo-unsubscribed")
        browser.close()
    assert status_of(directory / "pressroom.db", "demo-reader@example.com") == "unsubscribed"
