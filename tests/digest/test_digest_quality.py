"""The demo digest as receivers see it: SpamAssassin's score, Chromium at 375 and 600 px."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from digestkit import make_settings
from support import NOW, FakeClock

from pressroom.demo.corpus import load_demo
from pressroom.digest.preview import preview_digest
from pressroom.digest.service import send_digest
from pressroom.store.engine import Store
from pressroom.wiring import digest_config

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def demo_outbox(tmp_path: Path, sqlite_store: Store) -> list[Path]:
    """The demo corpus's digest, delivered to the file outbox."""
    settings = make_settings(tmp_path)
    load_demo(sqlite_store, NOW)
    report = asyncio.run(
        send_digest(digest_config(settings), sqlite_store, FakeClock(), show_progress=False)
    )
    assert report.sent >= 2
    return sorted(settings.path(settings.mail.outbox).glob("*.eml"))


@pytest.mark.external
@pytest.mark.slow
def test_spamassassin_scores_the_demo_digest_below_one(demo_outbox: list[Path]) -> None:
    if shutil.which("spamassassin") is None:
        pytest.skip("spamassassin (Debian package spamassassin) is not installed")
    biggest = max(demo_outbox, key=lambda p: p.stat().st_size)
    checked = subprocess.run(
        ["spamassassin", "-t", "-L"],  # -L: local tests only (no network in tests)
        input=biggest.read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    status = re.search(rb"^X-Spam-Status: \w+, score=(-?[\d.]+)", checked.stdout, re.MULTILINE)
    assert status is not None, checked.stderr.decode(errors="replace")[-500:]
    assert float(status.group(1)) < 1.0, checked.stdout.decode(errors="replace")[-2000:]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [375, 600])
def test_the_digest_fits_the_screen_in_chromium(
    width: int, tmp_path: Path, sqlite_store: Store
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    settings = make_settings(tmp_path)
    load_demo(sqlite_store, NOW)
    shown = preview_digest(digest_config(settings), sqlite_store, FakeClock())
    page_file = tmp_path / "digest.html"
    page_file.write_text(shown.html, encoding="utf-8")
    artifacts = Path("test-artifacts")
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.route("http*://**/*", lambda route: route.abort())  # no remote images
            page.goto(page_file.as_uri())
            overflow = page.evaluate("document.documentElement.scrollWidth")
            page_width = page.evaluate("document.querySelector('table.page').offsetWidth")
            titles = page.locator(".item-title a").all_inner_texts()
            footer = page.locator(".footer").inner_text()
            page.screenshot(path=str(artifacts / f"digest-{width}.png"), full_page=True)
        finally:
            browser.close()
    assert overflow <= width  # nothing sticks out sideways
    assert page_width == min(width, 600)
    assert len(titles) == shown.articles and all(titles)
    assert "退订" in footer and "修改栏目和频率" in footer
