"""Feeds: per-section RSS 2.0, Atom 1.0 and JSON Feed 1.1, OPML and an index page.

:func:`build_feeds` is the one entry point (the CLI, the worker and ``demo`` call it): it
writes what changed and tells the WebSub hubs. The formats are the registry's
(:mod:`pressroom.feeds.formats`).
"""

from pressroom.feeds.build import build_feeds, clear_caches
from pressroom.feeds.feed_config import FeedConfig
from pressroom.feeds.report import FeedBuildReport

__all__ = ["FeedBuildReport", "FeedConfig", "build_feeds", "clear_caches"]
