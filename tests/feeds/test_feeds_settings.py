"""The settings of issue 13: ``[feeds] watch``, ``websub_hub`` (one or a list), ``lease``,
``[site] logo_url``/``icon_url``/``copyright`` and ``[[sections]] url``."""

from __future__ import annotations

import pytest

from pressroom.config import load_settings
from pressroom.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), ("0", 0.0), (3, 3.0), ("1.5s", 1.5)],
)
def test_watch_takes_an_interval(value: object, seconds: float) -> None:
    assert load_settings(feeds={"watch": value}).feeds.watch == seconds


def test_watch_defaults_to_two_seconds_and_lease_to_the_store() -> None:
    feeds = load_settings().feeds
    assert feeds.watch == 2.0 and feeds.lease == "store" and feeds.hubs == ()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"feeds": {"watch": "soon"}}, "feeds.watch"),
        ({"feeds": {"watch": "-1"}}, "feeds.watch"),
        ({"feeds": {"lease": "shared"}}, "feeds.lease"),
        ({"feeds": {"websub_hub": "hub.example.net"}}, "feeds.websub_hub"),
        ({"feeds": {"websub_hub": ["https://a.example/", "ftp://b.example/"]}}, "feeds.websub_hub"),
        ({"site": {"logo_url": "/logo.png"}}, "site.logo_url"),
        ({"site": {"icon_url": "javascript:x"}}, "site.icon_url"),
        ({"sections": [{"slug": "tiyu", "name": "体育", "url": "tiyu/"}]}, "sections[0].url"),
    ],
)
def test_bad_values_name_their_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert any(f"{field}" in line for line in caught.value.problems), caught.value.problems


def test_one_hub_or_several_in_order_without_repeats() -> None:
    one = load_settings(feeds={"websub_hub": "https://hub.example.net/publish"}).feeds
    assert one.hubs == ("https://hub.example.net/publish",)  # an endpoint: kept as written
    hubs = ["https://b.example/", "https://a.example/", "https://b.example/"]
    assert load_settings(feeds={"websub_hub": hubs}).feeds.hubs == tuple(hubs[:2])
