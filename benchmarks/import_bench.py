"""Import throughput: `pressroom import` of N generated JSON Lines rows into SQLite.

Prints rows/s and peak RSS of the streaming, batched importer, and the rate of a naive
baseline measured in the same run (each row its own SELECT + INSERT and commit through
the ORM-less Core API) on a smaller sample, with the ratio.

    python benchmarks/import_bench.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from pressroom.clock import system_clock
from pressroom.demo.corpus import demo_sections
from pressroom.importer import import_file
from pressroom.store.articles import sync_sections
from pressroom.store.engine import open_store
from pressroom.store.schema import articles

BODY = "<p>" + "辽宁省各级党组织认真学习贯彻会议精神,推动工作落地见效。" * 8 + "</p>"


def generate(path: Path, rows: int) -> None:
    """Write ``rows`` article rows over the 22 demo sections."""
    sections = [s.slug for s in demo_sections()]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows):
            row = {
                "url": f"https://news.example.cn/{n}.html",
                "section": sections[n % len(sections)],
                "title": f"第{n}号新闻:省委常委会召开会议",
                "summary": "会议强调,要坚持以人民为中心的发展思想。",
                "body_html": BODY,
                "authors": "文字:岳小乔",
                "published_at": (start + timedelta(minutes=n)).isoformat(),
                "views": n % 30000,
                "priority": (n % 7 == 0 and 1) or 0,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def fresh_store(folder: Path, name: str):  # type: ignore[no-untyped-def]
    store = open_store(f"sqlite:///{folder / name}")
    with store.write() as conn:
        sync_sections(conn, demo_sections())
    return store


def run_pressroom(folder: Path, source: Path) -> float:
    store = fresh_store(folder, "fast.db")
    began = time.perf_counter()
    report = import_file(
        store, str(source), zone=UTC, clock=system_clock, report_bad=print, show_progress=False
    )
    elapsed = time.perf_counter() - began
    assert report.bad == 0
    store.dispose()
    return report.rows / elapsed


def run_naive(folder: Path, source: Path, rows: int) -> float:
    """Row by row: parse, look the url up, insert or update, commit; no batching."""
    store = fresh_store(folder, "naive.db")
    began = time.perf_counter()
    with source.open(encoding="utf-8") as lines:
        for _, line in zip(range(rows), lines, strict=False):
            data = json.loads(line)
            data["published_at"] = datetime.fromisoformat(data["published_at"])
            data["updated_at"] = data["published_at"]
            data["status"] = "published"
            with store.write() as conn:
                found = conn.execute(select(articles.c.id).where(articles.c.url == data["url"]))
                if found.first() is None:
                    conn.execute(articles.insert().values(**data))
                else:
                    conn.execute(
                        articles.update().where(articles.c.url == data["url"]).values(**data)
                    )
    elapsed = time.perf_counter() - began
    store.dispose()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "articles.jsonl"
        generate(source, args.rows)
        size_mb = source.stat().st_size / 1e6
        fast = [run_pressroom(folder, source) for _ in range(args.repeat)]
        for db in folder.glob("fast.db*"):
            db.unlink()
        naive = run_naive(folder, source, min(args.naive_rows, args.rows))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = statistics.median(fast)
    print(f"rows: {args.rows:,} ({size_mb:.0f} MB of JSON Lines), SQLite, batches of 2000")
    print(f"pressroom import: {rate:,.0f} rows/s (median of {len(fast)})")
    print(f"naive row-by-row: {naive:,.0f} rows/s ({min(args.naive_rows, args.rows):,} rows)")
    print(f"ratio: {rate / naive:.1f}x; peak RSS of the whole run: {peak_mb:.0f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
