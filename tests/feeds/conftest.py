"""Feed fixtures: a small store and settings, and the demo site built once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feedkit import DemoSite, make_settings
from support import NOW
from support import make_settings as make_site_settings

from pressroom.config import Settings
from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, load_demo
from pressroom.feeds import FeedConfig, build_feeds
from pressroom.store.engine import Store, open_store
from pressroom.wiring import feed_config as make_feed_config


@pytest.fixture
def feed_settings(tmp_path: Path) -> Settings:
    """Small-site settings whose output goes to tmp_path/public."""
    return make_settings(tmp_path)


@pytest.fixture
def feed_config(feed_settings: Settings) -> FeedConfig:
    """The feeds' part of ``feed_settings``."""
    return make_feed_config(feed_settings)


@pytest.fixture
def small_store(feed_settings: Settings) -> Iterator[Store]:
    """An empty SQLite store at the path ``feed_settings`` names."""
    opened = open_store(feed_settings.store_url)
    yield opened
    opened.dispose()


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo corpus, loaded and built once for the module."""
    root = tmp_path_factory.mktemp("demo")
    settings = make_site_settings(
        root,
        site={"name": DEMO_SITE_NAME, "base_url": DEMO_BASE_URL},
        store={"url": f"sqlite:///{root / 'store.db'}"},
        feeds={
            "public_url": "https://feeds.dangjian.example.cn/",
            "websub_hub": "https://hub.example.net/",
        },
    )
    store = open_store(settings.store_url)
    load_demo(store, NOW, subscribers=False)
    report = build_feeds(make_feed_config(settings), store, now=NOW)
    yield DemoSite(settings, store, report)
    store.dispose()
