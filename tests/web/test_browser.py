"""End to end in a real headless Chromium against uvicorn on 127.0.0.1 (port 0).

Subscribe through the form on the feed index, read the confirmation mail from the file
outbox, open its link and press the confirm button, change preferences, unsubscribe
through the page. Screenshots at 375 px and 1280 px go to test-artifacts/web/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from webkit import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SECRET,
    LiveServer,
    mail_link,
    make_settings,
    shoot,
    wait_for_mail,
    write_feeds,
)

from pressroom.clock import system_clock
from pressroom.config import Settings
from pressroom.models import Frequency, Subscriber, SubscriberStatus
from pressroom.store.engine import Store, open_store
from pressroom.store.subscribers import find_subscriber
from pressroom.tokens import make_token
from pressroom.web import create_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian chromium)"),
]


def build_site(settings: Settings, store: Store, now: datetime) -> None:
    """The demo corpus and its feeds when those parts exist, else a tiny feed."""
    try:
        from pressroom.demo.corpus import load_demo
        from pressroom.feeds import build_feeds
        from pressroom.wiring import feed_config
    except ImportError:
        write_feeds(settings.path(settings.feeds.output_dir))
        return
    load_demo(store, now, subscribers=False)
    build_feeds(feed_config(settings), store, now=now)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Settings, Store]]:
    tmp_path = tmp_path_factory.mktemp("site")
    holder: dict[str, Any] = {}

    def factory(url: str) -> object:
        settings = make_settings(tmp_path, public_url=url)
        store = open_store(settings.store_url)
        build_site(settings, store, system_clock())
        holder.update(settings=settings, store=store)
        return create_app(settings, store, system_clock)  # the real file transport

    with LiveServer(factory) as server:
        yield server, holder["settings"], holder["store"]
    holder["store"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def stored(store: Store, email: str) -> Subscriber:
    with store.read() as conn:
        found = find_subscriber(conn, email)
    assert found is not None
    return found


def test_subscribe_confirm_preferences_unsubscribe_in_chromium(
    site: tuple[LiveServer, Settings, Store], browser: Any
) -> None:
    server, settings, store = site
    context = browser.new_context(viewport={"width": 375, "height": 900}, locale="zh-CN")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(server.url)
    form = page.locator("form.subscribe-form")
    form.locator("input[name=email]").fill("reader@example.com")
    form.locator("input[name=name]").fill("读者")
    sections = form.locator("input[name=sections]")
    first, second = sections.nth(0), sections.nth(1)
    first.check()
    second.check()
    chosen = [first.get_attribute("value"), second.get_attribute("value")]
    form.locator("input[name=frequency][value=weekly]").check()
    shoot(page, "01-index")
    page.locator("#pr-subscribe").screenshot(path=str(ARTIFACTS / "01-index-form-375.png"))
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=请查收邮件")
    shoot(page, "02-subscribe-sent")
    assert stored(store, "reader@example.com").status == SubscriberStatus.PENDING

    mail = wait_for_mail(settings.path(settings.mail.outbox), 1)[0].read_bytes()
    parsed = message_from_bytes(mail, policy=policy.default)
    assert str(parsed["To"]) == "reader@example.com"
    link = mail_link(mail)
    assert link.startswith(f"{server.url}confirm/")

    page.goto(link)  # what a mail scanner also fetches: a page, no change
    page.wait_for_selector("button:has-text('确认订阅')")
    shoot(page, "03-confirm")
    assert stored(store, "reader@example.com").status == SubscriberStatus.PENDING
    page.click("button:has-text('确认订阅')")
    page.wait_for_selector("text=订阅已确认")
    shoot(page, "03-confirmed")
    active = stored(store, "reader@example.com")
    assert active.status == SubscriberStatus.ACTIVE
    assert list(active.sections) == chosen and active.frequency == Frequency.WEEKLY

    page.click("text=修改栏目与频率")
    page.wait_for_selector("text=订阅设置")
    page.locator(f"input[name=sections][value={chosen[0]}]").uncheck()
    page.locator("input[name=frequency][value=daily]").check()
    shoot(page, "04-preferences")
    page.click("button[value=save]")
    page.wait_for_selector("text=已保存")
    changed = stored(store, "reader@example.com")
    assert list(changed.sections) == chosen[1:] and changed.frequency == Frequency.DAILY

    # The digest's List-Unsubscribe link: the GET page must not unsubscribe by itself.
    token = make_token(SECRET, "unsubscribe", active.public_key, datetime.now(UTC))
    page.goto(f"{server.url}unsubscribe/{token}")
    page.wait_for_selector("text=确认退订")
    shoot(page, "05-unsubscribe")
    assert stored(store, "reader@example.com").status == SubscriberStatus.ACTIVE
    page.click("text=确认退订")
    page.wait_for_selector("text=您已退订")
    shoot(page, "06-unsubscribed")
    assert stored(store, "reader@example.com").status == SubscriberStatus.UNSUBSCRIBED

    foreign = [url for url in requested if not url.startswith(server.url)]
    assert foreign == []  # no external assets on any page
    context.close()


def test_forged_link_page_in_chromium(
    site: tuple[LiveServer, Settings, Store], browser: Any
) -> None:
    server, _, _ = site
    page = browser.new_page(viewport={"width": 375, "height": 900})
    response = page.goto(f"{server.url}unsubscribe/forged.token")
    assert response is not None and response.status == 400
    assert "链接无效" in page.content()
    shoot(page, "07-bad-link")


def test_settings_builder_sets_the_secret(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="http://127.0.0.1:1/")
    assert settings.web.secret is not None
    assert settings.web.secret.get_secret_value() == SECRET
