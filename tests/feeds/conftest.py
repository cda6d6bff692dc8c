"""Feed fixtures: a small store and settings, and the demo site built once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feedkit import NOW, make_settings

from pressroom.config import Settings, load_settings
from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, load_demo
from pressroom.feeds import FeedBuildReport, build_feeds
from pressroom.store.engine import Store, open_store


@pytest.fixture
def feed_settings(tmp_path: Path) -> Settings:
    """Small-site settings whose output goes to tmp_path/public."""
    return make_settings(tmp_path)


@pytest.fixture
def small_store(feed_settings: Settings) -> Iterator[Store]:
    """An empty SQLite store at the path ``feed_settings`` names."""
    opened = open_store(feed_settings.store_url)
    yield opened
    opened.dispose()


class DemoSite:
    """The demo corpus built into ``out`` (shared by read-only tests)."""

    def __init__(self, settings: Settings, store: Store, report: FeedBuildReport) -> None:
        self.settings, self.store, self.report = settings, store, report
        self.out = settings.path(settings.feeds.output_dir)


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo corpus, loaded and built once for the module."""
    root = tmp_path_factory.mktemp("demo")
    path = root / "pressroom.toml"
    path.write_text(
        f'[site]\nname = "{DEMO_SITE_NAME}"\nbase_url = "{DEMO_BASE_URL}"\n'
        f'[store]\nurl = "sqlite:///{root / "store.db"}"\n'
        '[feeds]\npublic_url = "https://feeds.dangjian.example.cn/"\n'
        'websub_hub = "https://hub.example.net/"\n',
        encoding="utf-8",
    )
    settings = load_settings(path)
    store = open_store(settings.store_url)
    load_demo(store, NOW, subscribers=False)
    report = build_feeds(settings, store, now=NOW)
    yield DemoSite(settings, store, report)
    store.dispose()
