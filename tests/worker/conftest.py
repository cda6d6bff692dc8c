"""Worker fixtures: fake jobs, settings with schedules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import support
from workerfakes import FakeDigest, FakeFeeds, no_bounces

from pressroom.config import Settings
from pressroom.worker.registry import Jobs


@pytest.fixture
def fake_feeds() -> FakeFeeds:
    return FakeFeeds()


@pytest.fixture
def fake_digest() -> FakeDigest:
    return FakeDigest()


@pytest.fixture
def fake_jobs(fake_feeds: FakeFeeds, fake_digest: FakeDigest) -> Jobs:
    return Jobs(build_feeds=fake_feeds, send_digest=fake_digest, process_bounces=no_bounces)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with the given ``[[schedules]]`` TOML (and a store URL) in tmp_path; the
    feeds watch is off (``tests/worker/test_watch*.py`` turn it on), so only the schedules
    start jobs."""

    def _make(schedules: str, store_url: str | None = None, extra: str = "") -> Settings:
        url = store_url or f"sqlite:///{tmp_path / 'store.db'}"
        return support.make_settings(
            tmp_path, f"{extra}\n{schedules}\n", store={"url": url}, feeds={"watch": "0"}
        )

    return _make
