"""Subscriber CSV import throughput: `pressroom subscribers import` of N generated rows.

Prints rows/s and peak RSS of the bulk importer as the command runs it (one lookup query,
one insert and one update statement per batch of 2,000 rows, consent events in one
statement; a file over 2 MB is parsed in a helper process, and the RSS is of all the
processes together) and of a
row-by-row baseline measured in the same run (each row parsed, upserted and read back,
its consent event written: one statement after another, 500 rows per transaction, as
`subscribers import` did before), with the ratio. Each path runs in its own forked
process, so each peak RSS is its own. Half the rows of a second pass are already stored
(a re-import with changes and suppressed addresses), so the update path is measured too.

    python benchmarks/subscribers_import_bench.py --rows 1000000 [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import in_child, opened, store_url

from pressroom.demo.corpus import demo_sections
from pressroom.models import ConsentEvent, ConsentSource
from pressroom.store.articles import list_sections, sync_sections
from pressroom.store.subscriber_writes import record_consent_event, save_subscriber
from pressroom.store.subscribers import find_subscriber
from pressroom.subscribers.csv_rows import SectionNames, csv_records, parse_row
from pressroom.subscribers.roster import import_csv_file

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
STATUSES = ["active"] * 17 + ["pending", "unsubscribed", "bounced"]


def generate(path: Path, *parts: tuple[range, bool]) -> None:
    """Write rows numbered by ``parts`` (a range, renamed?): Chinese names, a few sections,
    mixed statuses."""
    sections = [s.name for s in demo_sections()]
    numbers = [(n, renamed) for numbers, renamed in parts for n in numbers]
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,sections,frequency,status\n")
        for n, renamed in numbers:
            name = f"读者{n}" + ("改" if renamed else "")
            chosen = ";".join(sections[(n + k) % len(sections)] for k in range(n % 3))
            frequency = "weekly" if n % 5 == 0 else "daily"
            status = STATUSES[n % len(STATUSES)]
            out.write(f"reader.{n}@mail{n % 50}.example.com,{name},{chosen},{frequency},{status}\n")


def fresh(url: str):  # type: ignore[no-untyped-def]
    store = opened(url)
    with store.write() as conn:
        sync_sections(conn, demo_sections())
    return store


def run_bulk(url: str, first: Path, second: Path) -> float:
    """Import ``first`` then ``second`` (half of it already stored); rows/s over both."""
    store = fresh(url)
    rows = 0
    began = time.perf_counter()
    for source in (first, second):
        report = import_csv_file(store, str(source), NOW, lambda line: None, show_progress=False)
        assert report.bad == 0, report.summary()
        rows += report.rows
    elapsed = time.perf_counter() - began
    store.dispose()
    return rows / elapsed


def run_naive(url: str, first: Path, second: Path, limit: int) -> float:
    """Row by row: parse, upsert, read back, record the event; 500 rows a transaction."""
    store = fresh(url)
    with store.read() as conn:
        names = SectionNames(list_sections(conn))
    rows = 0
    began = time.perf_counter()
    for source in (first, second):
        with source.open("rb") as stream:
            records = [r for _, r in zip(range(limit), csv_records(stream), strict=False)]
        for start in range(0, len(records), 500):
            with store.write() as conn:
                for _, record in records[start : start + 500]:
                    assert not isinstance(record, str)
                    row = parse_row(record, names)
                    before = find_subscriber(conn, row.email)
                    saved = save_subscriber(
                        conn, email=row.email, name=row.name, sections=row.sections,
                        frequency=row.frequency, status=row.status, now=NOW,
                    )  # fmt: skip
                    if before is None or before.status != saved.status:
                        event = ConsentEvent(
                            saved.id, before and before.status, saved.status, NOW,
                            ConsentSource.CSV,
                        )  # fmt: skip
                        record_consent_event(conn, event)
                    rows += 1
    elapsed = time.perf_counter() - began
    store.dispose()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the first file")
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first, second = folder / "first.csv", folder / "second.csv"
        generate(first, (range(args.rows), False))
        # The second file: its first half re-imports stored rows with a new name (updates,
        # suppressed ones left as they are), its second half adds new addresses.
        half = args.rows // 2
        generate(
            second, (range(half, args.rows), True), (range(args.rows, 2 * args.rows - half), False)
        )
        total = args.rows * 2
        size_mb = (first.stat().st_size + second.stat().st_size) / 1e6
        bulk = []
        for n in range(args.repeat):
            with store_url(args.backend, folder, f"bulk{n}") as url:
                bulk.append(in_child(lambda url=url: run_bulk(url, first, second)))
        naive_rows = min(args.naive_rows, args.rows)
        with store_url(args.backend, folder, "naive") as url:
            naive = in_child(lambda: run_naive(url, first, second, naive_rows))
    rate = statistics.median(r for r, _ in bulk)
    peak = max(m for _, m in bulk)
    print(f"rows: {total:,} in two files ({size_mb:.0f} MB of CSV), {args.backend}")
    print(f"bulk import:      {rate:,.0f} rows/s (median of {len(bulk)}), peak RSS {peak:.0f} MB")
    print(
        f"row-by-row:       {naive[0]:,.0f} rows/s ({naive_rows * 2:,} rows), "
        f"peak RSS {naive[1]:.0f} MB"
    )
    print(f"ratio: {rate / naive[0]:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
