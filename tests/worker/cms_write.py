"""Run as a process: write one article into a store, as a CMS would, then print the
wall-clock time of the commit (``python cms_write.py STORE_URL ROW_JSON``)."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

from pressroom.store.articles import upsert_articles
from pressroom.store.engine import open_store


def main() -> None:
    store = open_store(sys.argv[1])
    row = json.loads(sys.argv[2])
    row["published_at"] = datetime.fromisoformat(row["published_at"])
    with store.write() as conn:
        upsert_articles(conn, [row], datetime.now(UTC))
    print(time.time(), flush=True)  # the commit is done when write() returns
    store.dispose()


if __name__ == "__main__":
    main()
