"""Prepared entries kept between builds in one process (the worker builds every few
minutes): an article whose ``(id, updated_at)`` and build context are unchanged is neither
loaded nor sanitised again. Bounded; safe across threads."""

from __future__ import annotations

import threading
from collections import OrderedDict

from pressroom.feeds.items import FeedItem

__all__ = ["ItemCache", "ItemKey", "item_cache"]

ItemKey = tuple[str, int, str]
"""(build context: settings and section names, article id, its updated_at as text)."""


class ItemCache:
    """A least-recently-used map of prepared entries (None: the article was skipped)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[ItemKey, FeedItem | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ItemKey) -> tuple[bool, FeedItem | None]:
        """(found, entry) for ``key``."""
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def put(self, key: ItemKey, item: FeedItem | None) -> None:
        """Keep ``item`` under ``key``, dropping the least recently used beyond the size."""
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._items.clear()


item_cache = ItemCache()
"""The process-wide cache :func:`pressroom.feeds.build_feeds` uses."""
