"""The security headers in a real headless Chromium: the pages still work under the policy.

The CSP forbids scripts, external assets and framing; the pages' inline styles and forms
must still work. Chromium reports every CSP violation on the console, so a page that
needs something the policy refuses fails here. Also: a foreign page cannot frame ours, and
a link from our token pages to another site carries no Referer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webkit import CHROMIUM, CHROMIUM_ARGS, LiveServer, make_settings

from pressroom.clock import system_clock
from pressroom.demo.corpus import load_demo
from pressroom.feeds import build_feeds
from pressroom.store.engine import Store, open_store
from pressroom.web import create_app
from pressroom.wiring import feed_config

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo corpus, its real feeds and index page, served by uvicorn on 127.0.0.1:0."""
    tmp_path = tmp_path_factory.mktemp("csp")
    stores: list[Store] = []

    def factory(url: str) -> object:
        settings = make_settings(tmp_path, public_url=url, subscribe_per_minute=100)
        store = open_store(settings.store_url)
        stores.append(store)
        load_demo(store, system_clock(), subscribers=False)
        build_feeds(feed_config(settings), store, now=system_clock())
        return create_app(settings, store, system_clock)

    with LiveServer(factory) as live:
        yield live
    for store in stores:
        store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    context = browser.new_context(viewport={"width": 375, "height": 900}, locale="zh-CN")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    yield page, console
    context.close()


def violations(console: list[str]) -> list[str]:
    return [line for line in console if "Content Security Policy" in line]


def test_the_index_and_its_subscribe_form_work_under_the_policy(
    server: LiveServer, page: tuple[Any, list[str]]
) -> None:
    tab, console = page
    response = tab.goto(server.url)
    assert response is not None and response.status == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    # The feed builder's inline <style> applies (max-width: 46rem at 16px).
    assert tab.evaluate("getComputedStyle(document.body).maxWidth") == "736px"
    form = tab.locator("form.subscribe-form")
    form.locator("input[name=email]").fill("csp-reader@example.com")
    form.locator("button[type=submit]").click()  # form-action 'self' lets it post
    tab.wait_for_selector("text=请查收邮件")
    # base.html's inline <style> applies on our own pages.
    assert (
        tab.evaluate("getComputedStyle(document.querySelector('main')).borderTopLeftRadius")
        == "10px"
    )
    assert violations(console) == []


@pytest.mark.parametrize("path", ["subscribe", "unsubscribe/forged.token", "no/such/page"])
def test_our_pages_render_without_violations(
    server: LiveServer, page: tuple[Any, list[str]], path: str
) -> None:
    tab, console = page
    tab.goto(f"{server.url}{path}")
    assert (
        tab.evaluate("getComputedStyle(document.querySelector('main')).borderTopLeftRadius")
        == "10px"
    )
    assert violations(console) == []


def test_a_foreign_page_cannot_frame_ours(
    server: LiveServer, page: tuple[Any, list[str]], tmp_path: Path
) -> None:
    """Clickjacking: the subscribe form inside another site's iframe is refused."""
    tab, console = page
    framing = tmp_path / "evil.html"
    framing.write_text(f'<iframe src="{server.url}subscribe" width="400" height="400"></iframe>')
    tab.goto(framing.as_uri())
    tab.wait_for_timeout(1000)
    frames = [frame for frame in tab.frames if frame != tab.main_frame]
    assert frames, "the iframe was not created"
    loaded = (
        frames[0].evaluate("document.querySelector('form') !== null")
        if frames[0].url.startswith(server.url)
        else False
    )
    assert not loaded, "our form rendered inside a foreign page"
    assert any("frame-ancestors" in line for line in console), console


def test_links_from_a_token_page_send_no_referer_to_other_sites(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    """A token in our URL must not leak to another site through Referer."""
    import http.server
    import threading

    seen: list[str | None] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/landing":  # not the browser's own /favicon.ico fetch
                seen.append(self.headers.get("Referer"))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return None

    other = http.server.HTTPServer(("127.0.0.2", 0), Recorder)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(f"{server.url}unsubscribe/forged.token")
        foreign = f"http://127.0.0.2:{other.server_port}/landing"
        tab.evaluate(
            "url => { const a = document.createElement('a'); a.href = url; a.textContent = 'x';"
            " document.body.appendChild(a); a.click(); }",
            foreign,
        )
        tab.wait_for_url(foreign)
        context.close()
    finally:
        other.shutdown()
        other.server_close()
    assert seen == [None]
