"""Import throughput: `pressroom import` of N generated JSON Lines rows.

Prints rows/s and peak RSS of the streaming, batched importer (every value checked, one
upsert statement per batch of 2,000 rows), and of a naive row-by-row baseline measured in
the same run (each row its own SELECT + INSERT and commit through the Core API) on a
smaller sample, with the ratio. Each path runs in its own forked process, so each peak
RSS is its own (the importer's, with its parsing helper process: a file over 4 MB is parsed
in a helper while batches are written).

    python benchmarks/import_bench.py --rows 1000000 [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import in_child, store_url

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


def fresh_store(url: str):  # type: ignore[no-untyped-def]
    store = open_store(url)
    with store.write() as conn:
        sync_sections(conn, demo_sections())
    return store


def run_pressroom(url: str, source: Path) -> float:
    store = fresh_store(url)
    began = time.perf_counter()
    report = import_file(
        store, str(source), zone=UTC, clock=system_clock, report_bad=print, show_progress=False
    )
    elapsed = time.perf_counter() - began
    assert report.bad == 0
    store.dispose()
    return report.rows / elapsed


def run_naive(url: str, source: Path, rows: int) -> float:
    """Row by row: parse, look the url up, insert or update, commit; no batching."""
    store = fresh_store(url)
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "articles.jsonl"
        generate(source, args.rows)
        size_mb = source.stat().st_size / 1e6
        fast = []
        for n in range(args.repeat):
            with store_url(args.backend, folder, f"fast{n}") as url:
                fast.append(in_child(lambda url=url: run_pressroom(url, source)))
            for db in folder.glob(f"fast{n}.db*"):
                db.unlink()
        naive_rows = min(args.naive_rows, args.rows)
        with store_url(args.backend, folder, "naive") as url:
            naive = in_child(lambda: run_naive(url, source, naive_rows))
    rate = statistics.median(r for r, _ in fast)
    peak = max(m for _, m in fast)
    print(f"rows: {args.rows:,} ({size_mb:.0f} MB of JSON Lines), {args.backend}, batches of 2000")
    print(f"pressroom import: {rate:,.0f} rows/s (median of {len(fast)}), peak RSS {peak:.0f} MB")
    print(
        f"naive row-by-row: {naive[0]:,.0f} rows/s ({naive_rows:,} rows), "
        f"peak RSS {naive[1]:.0f} MB"
    )
    print(f"ratio: {rate / naive[0]:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
