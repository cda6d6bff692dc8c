"""``index.html``: every ``<time datetime>`` is a valid HTML date-time (at most
milliseconds), also after an edit stamped "now" with microseconds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import lxml.html
from feedkit import load_rows, make_config, row
from support import NOW

from pressroom.feeds import build_feeds
from pressroom.store.engine import open_store

HTML_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")


def test_index_times_have_at_most_milliseconds(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    edited_at = NOW + timedelta(minutes=5, microseconds=123_456)
    try:
        load_rows(store, [row(1, "tiyu")])
        # an edit without its own updated_at is stamped with the import's "now"
        load_rows(store, [row(1, "tiyu", title="改过的标题", updated_at=None)], now=edited_at)
        build_feeds(config, store, now=edited_at)
    finally:
        store.dispose()
    page = lxml.html.fromstring((config.output_dir / "index.html").read_bytes())
    stamps = [t.get("datetime") for t in page.iter("time")]
    assert stamps and all(HTML_DATETIME.match(s) for s in stamps), stamps
    assert "2026-11-28T16:05:00.123Z" in stamps  # the edit's time, cut to milliseconds
