"""Golden files for one small feed (all three formats) and the OPML file.

Regenerate after an intended change of output with::

    PRESSROOM_REGEN_GOLDEN=1 pytest tests/feeds/test_golden.py

and review the diff of tests/feeds/golden/ before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from feedkit import BELONGS_SITE, SECTION_PAGES, load_rows, make_config, row

from pressroom.feeds import build_feeds
from pressroom.store.engine import open_store

GOLDEN = Path(__file__).parent / "golden"
# Read at import: the shared autouse fixture hides PRESSROOM_* variables from tests.
REGENERATE = os.environ.get("PRESSROOM_REGEN_GOLDEN") == "1"
FILES = ["tiyu/rss.xml", "tiyu/atom.xml", "tiyu/feed.json", "feeds.opml"]


@pytest.fixture
def built(tmp_path: Path) -> Path:
    config = make_config(
        tmp_path,
        site=BELONGS_SITE,
        extra=SECTION_PAGES,
        websub_hub=["https://hub.example.net/", "https://hub2.example.org/"],
    )
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        load_rows(
            store,
            [
                row(1, "tiyu", title="女排<决赛>今晚 & 明天", priority=2, views=30_000),
                row(
                    2,
                    "tiyu",
                    authors="",
                    image_url=None,
                    body_html='<p onclick="x()">比赛<a href="/live">直播</a><script>y()</script>',
                ),
            ],
        )
        build_feeds(config, store, now=row(0)["published_at"])
    finally:
        store.dispose()
    return config.output_dir


@pytest.mark.parametrize("name", FILES)
def test_output_matches_the_golden_file(built: Path, name: str) -> None:
    golden = GOLDEN / name.replace("/", "-")
    produced = (built / name).read_bytes()
    if REGENERATE:
        golden.write_bytes(produced)
    assert golden.exists(), f"no golden file {golden}: run with PRESSROOM_REGEN_GOLDEN=1"
    assert produced.decode("utf-8") == golden.read_text(encoding="utf-8")
