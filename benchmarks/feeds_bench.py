"""Feed build benchmark: pressroom's change-aware build against a naive baseline.

Usage::

    python benchmarks/feeds_bench.py [--sizes 10000,1000000] [--backends sqlite,postgres]

Stores of N generated articles over the demo site's 22 sections are made once and cached
(SQLite files under ``$PRESSROOM_BENCH_DIR``, default /tmp/pressroom-bench; PostgreSQL
schemas ``bench_feeds_N`` in ``$PRESSROOM_TEST_PG_URL`` when it is set). Each size runs in
its own process, so peak RSS is per store size. Inside that process, after one warm-up
build, it measures (median of several runs):

- full: every feed built into an empty folder with ``feed_state`` cleared (cold: also
  with the process's caches of prepared and rendered entries emptied);
- no-change: a rebuild when nothing changed (the in-process fast path);
- no-change, new process: the same with the in-process memo dropped (fingerprint path);
- +10 new: a rebuild after 10 new articles were committed;
- naive: each feed built from scratch the way a first version would: the newest articles
  of each feed loaded through the SQLAlchemy ORM, handed to feedgen, RSS and Atom written
  (no change detection, no sanitising, no JSON/OPML/index: less work than pressroom does).

Ratios are naive time / pressroom time, measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pressroom.store.articles import ARTICLE_FIELDS

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
BASE_URL = "https://dangjian.example.cn/"
BENCH_DIR = Path(os.environ.get("PRESSROOM_BENCH_DIR", "/tmp/pressroom-bench"))
PG_ENV = "PRESSROOM_TEST_PG_URL"
COLUMNS = list(ARTICLE_FIELDS)
TARGETS = {"full": 0.5, "no_change": 0.020, "rss_mb": 150.0, "ratio": 3.0}


# ---------------------------------------------------------------- generating stores


def _rows(n: int, slugs: list[str], start: int = 0) -> Iterator[tuple[Any, ...]]:
    """``n`` deterministic articles spread over five years before NOW (a few after it)."""
    rng = random.Random(f"feeds-bench-{start}")
    span = 5 * 365 * 86400
    for i in range(start, start + n):
        slug = rng.choice(slugs)
        published = NOW - timedelta(seconds=rng.randrange(-3600, span))
        body = (
            f"<h3>第{i}号</h3><p>{'会议强调,要坚持以人民为中心的发展思想。' * 6}</p>"
            f'<p><img src="/uploads/{i % 997}.jpg?x-oss-process=style/w10" alt=""></p>'
            f"<p>{'各级党组织要切实履行主体责任,推动工作取得实效。' * 4}</p>"
        )
        status = rng.choices(("published", "draft", "deleted"), (97, 2, 1))[0]
        yield (
            f"{BASE_URL}{slug}/{i}.html",
            slug,
            f"第{i}号新闻:沈阳扎实推进重点工作",
            "会议强调,要坚持以人民为中心的发展思想,把各项工作落到实处。",
            body,
            f"文字:记者{i % 50};图片:摄影{i % 30}",
            f"{BASE_URL}uploads/{i % 997}.jpg" if i % 3 == 0 else None,
            published,
            published,
            rng.choice((120, 860, 1539, 3200, 6400, 12800, 25600)),
            rng.choices((0, 1, 2), (90, 7, 3))[0],
            status,
        )


def _sqlite_value(value: Any) -> Any:
    # the store's UTCDateTime on SQLite: naive UTC text, as SQLAlchemy writes it
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def ensure_sqlite(n: int) -> str:
    """A cached SQLite store of ``n`` articles; returns its URL."""
    import sqlite3

    path = BENCH_DIR / f"feeds-{n}.db"
    url = f"sqlite:///{path}"
    if path.exists() and _count(url) >= n:
        return url
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    for stale in BENCH_DIR.glob(f"feeds-{n}.db*"):
        stale.unlink()
    slugs = _prepare_schema(url)
    print(f"generating {n} articles into {path} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    marks = ",".join("?" * len(COLUMNS))
    insert = f"INSERT INTO articles ({','.join(COLUMNS)}) VALUES ({marks})"
    for batch in _batches(_rows(n, slugs), 20_000):
        db.executemany(insert, [tuple(_sqlite_value(v) for v in row) for row in batch])
        db.commit()
    db.execute("ANALYZE")
    db.close()
    print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return url


def ensure_postgres(base_url: str, n: int) -> str:
    """A cached PostgreSQL schema ``bench_feeds_N`` of ``n`` articles; returns its URL."""
    from sqlalchemy import create_engine, text

    schema = f"bench_feeds_{n}"
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    admin.dispose()
    if _count(url) >= n:
        return url
    slugs = _prepare_schema(url)
    print(f"generating {n} articles into PostgreSQL {schema} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("TRUNCATE articles")
        with cursor.copy(f"COPY articles ({','.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in _rows(n, slugs):
                copy.write_row(row)
        cursor.execute("ANALYZE articles")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return url


def _prepare_schema(url: str) -> list[str]:
    from pressroom.demo.corpus import demo_sections
    from pressroom.store.articles import sync_sections
    from pressroom.store.engine import open_store

    store = open_store(url)
    with store.write() as conn:
        sync_sections(conn, demo_sections())
    store.dispose()
    return [s.slug for s in demo_sections()]


def _count(url: str) -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM articles")).scalar_one())
    except SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


def _batches(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------- the naive baseline


def _orm_class() -> Any:
    from sqlalchemy.orm import DeclarativeBase

    from pressroom.store.schema import articles

    class Base(DeclarativeBase):
        pass

    class ArticleRow(Base):
        __table__ = articles

    return ArticleRow


def naive_build(settings: Any, store: Any, out: Path, *, literal: bool = False) -> None:
    """Every feed from scratch: ORM objects in, feedgen RSS and Atom out.

    ``literal``: each section feed loads *all* the section's articles through the ORM and
    keeps the newest 50 in Python (the literal baseline). Otherwise each
    feed asks for its newest 50 with ORDER BY ... LIMIT (a stronger baseline).
    """
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from pressroom.importance import is_important
    from pressroom.store.articles import list_sections, row_to_article

    orm = _orm_class()
    visible = select(orm).where(orm.published_at <= NOW, orm.status == "published")
    newest = visible.order_by(orm.published_at.desc())
    with Session(store.engine) as session:
        sections = list_sections(session.connection())
        weights = {s.slug: s.weight for s in sections}
        _naive_write(settings, out, "all", list(session.scalars(newest.limit(50))))
        important = []
        for row in session.scalars(newest.execution_options(yield_per=500)):
            if is_important(row_to_article(_as_row(row)), weights, settings.digest.importance):
                important.append(row)
                if len(important) == 50:
                    break
        _naive_write(settings, out, "important", important)
    for section in sections:
        with Session(store.engine) as session:
            if literal:
                rows = [
                    r
                    for r in session.scalars(select(orm).where(orm.section == section.slug))
                    if r.status == "published" and r.published_at <= NOW
                ]
                rows = sorted(rows, key=lambda r: r.published_at, reverse=True)[:50]
            else:
                rows = list(session.scalars(newest.where(orm.section == section.slug).limit(50)))
            _naive_write(settings, out, section.slug, rows)


def _naive_write(settings: Any, out: Path, name: str, rows: list[Any]) -> None:
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(f"{BASE_URL}{name}")
    fg.title(f"{settings.site.name} · {name}")
    fg.link(href=BASE_URL)
    fg.description(name)
    for row in rows:
        entry = fg.add_entry(order="append")
        entry.id(row.url)
        entry.title(row.title)
        entry.link(href=row.url)
        entry.published(row.published_at)
        entry.updated(row.updated_at)
        entry.author(name=row.authors)
        entry.content(row.body_html, type="html")
    (out / name).mkdir(parents=True, exist_ok=True)
    fg.rss_file(str(out / name / "rss.xml"))
    fg.atom_file(str(out / name / "atom.xml"))


class _as_row:
    def __init__(self, obj: Any) -> None:
        self._mapping = {c: getattr(obj, c) for c in ("id", *COLUMNS)}


# ---------------------------------------------------------------- measuring (child process)


def _median(runs: int, setup: Callable[[], None], work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        setup()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(backend: str, url: str, n: int) -> dict[str, Any]:
    """Run every measurement on one store; returns the figures."""
    from sqlalchemy import delete

    from pressroom.config import load_settings
    from pressroom.feeds import build_feeds, clear_caches, fastpath
    from pressroom.store.engine import open_store
    from pressroom.store.schema import articles, feed_state
    from pressroom.wiring import feed_config as make_feed_config

    work = BENCH_DIR / f"out-{backend}-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = work / "pressroom.toml"
    config.write_text(
        f'[site]\nname = "辽宁党建网"\nbase_url = "{BASE_URL}"\n'
        f'[feeds]\noutput_dir = "public"\npublic_url = "https://feeds.example.cn/"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, store={"url": url})
    feed_config = make_feed_config(settings)
    store = open_store(url, migrate=False)
    out = feed_config.output_dir
    new_prefix = f"{BASE_URL}bench-new/"
    now = [NOW]

    def forget_all() -> None:
        with store.write() as conn:
            conn.execute(delete(feed_state))
            conn.execute(delete(articles).where(articles.c.url.like(f"{new_prefix}%")))
        shutil.rmtree(out, ignore_errors=True)
        fastpath.forget(store, out)

    def build() -> object:
        return build_feeds(feed_config, store, now=now[0])

    forget_all()
    build()  # warm-up: imports, caches
    figures: dict[str, Any] = {"backend": backend, "articles": n}
    figures["full"] = _median(3, forget_all, build)
    figures["full_cold"] = _median(3, lambda: (forget_all(), clear_caches()), build)
    build()
    build()  # a no-write build leaves the memo
    figures["no_change"] = _median(20, lambda: None, build)
    figures["no_change_new_process"] = _median(5, lambda: fastpath.forget(store, out), build)
    figures["plus_10"] = _median(3, lambda: _commit_ten(store, n, now, new_prefix), build)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    naive_out = work / "naive"
    for key, literal, runs in (("naive", False, 3), ("naive_literal", True, 3 if n < 10**5 else 1)):
        figures[key] = _median(
            runs,
            lambda: shutil.rmtree(naive_out, ignore_errors=True),
            lambda literal=literal: naive_build(settings, store, naive_out, literal=literal),
        )
    forget_all()
    store.dispose()
    figures["load"] = os.getloadavg()[0]
    figures["cpu_ms"] = _median(3, lambda: None, lambda: sum(i * i for i in range(10**6))) * 1000
    return figures


def _commit_ten(store: Any, n: int, now: list[datetime], prefix: str) -> None:
    """Commit 10 new articles, published a minute after the last ones, across 4 sections."""
    from pressroom.store.articles import upsert_articles

    now[0] += timedelta(minutes=1)
    slugs = ["zhongyao-jianghua", "benzhan-toutiao", "jiceng-dangjian", "dangshi-xuexi"]
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in _rows(10, slugs, start=n * 2)]
    for k, row in enumerate(rows):
        row["url"] = f"{prefix}{now[0]:%H%M}-{k}.html"
        row["published_at"] = row["updated_at"] = now[0] - timedelta(seconds=k)
        row["status"] = "published"
    with store.write() as conn:
        upsert_articles(conn, rows, now[0])


# ---------------------------------------------------------------- the report (parent process)


def _run_child(backend: str, url: str, n: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", backend, str(n), url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{backend} {n}: the measuring process failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def _report(all_figures: list[dict[str, Any]]) -> None:
    print(
        "backend   articles   full ms   cold ms  no-change ms  new-process ms  +10 new ms"
        "  naive ms  naive-all ms  RSS MB  load  cpu ms"
    )
    for f in all_figures:
        print(
            f"{f['backend']:<8} {f['articles']:>9} {_ms(f['full'])} {_ms(f['full_cold'])}"
            f"     {_ms(f['no_change'])}"
            f"       {_ms(f['no_change_new_process'])}  {_ms(f['plus_10'])} {_ms(f['naive'])}"
            f"     {_ms(f['naive_literal'])}  {f['peak_rss_mb']:6.0f}  {f['load']:4.1f}"
            f"  {f['cpu_ms']:6.0f}"
        )
    print("\nratios (baseline time / pressroom time; naive = ORM newest-50 per feed,")
    print("naive-all = ORM loads every article of a section, then keeps the newest 50):")
    for f in all_figures:
        parts = []
        for base in ("naive", "naive_literal"):
            label = "naive" if base == "naive" else "naive-all"
            new_process = f[base] / f["no_change_new_process"]
            parts.append(
                f"{label}: full {f[base] / f['full']:.1f}x (cold {f[base] / f['full_cold']:.1f}x),"
                f" no-change {f[base] / f['no_change']:.0f}x (new process {new_process:.1f}x)"
                f", +10 {f[base] / f['plus_10']:.1f}x"
            )
        print(f"  {f['backend']} {f['articles']}: " + "; ".join(parts))
    print("\nload: the 1-minute load average; cpu ms: sum(i * i for i in range(10**6)) here")
    print("(run the same line on another machine to scale these figures to it).")
    print("\ntargets: full <= 500 ms, no-change <= 20 ms, peak RSS <= 150 MB, >= 3x naive")
    for f in all_figures:
        misses = [name for name, bad in _misses(f).items() if bad]
        verdict = "all met" if not misses else "missed: " + ", ".join(misses)
        print(f"  {f['backend']} {f['articles']}: {verdict}")


def _misses(f: dict[str, Any]) -> dict[str, bool]:
    return {
        "full": f["full"] > TARGETS["full"],
        "no-change": f["no_change"] > TARGETS["no_change"],
        "RSS": f["peak_rss_mb"] > TARGETS["rss_mb"],
        "+10 vs naive": f["naive"] / f["plus_10"] < TARGETS["ratio"],
        "+10 vs naive-all": f["naive_literal"] / f["plus_10"] < TARGETS["ratio"],
    }


def main() -> None:
    """Parse arguments; measure each (backend, size) in its own process; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "N", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, n, url = args.child
        print(json.dumps(measure(backend, url, int(n))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for backend in args.backends.split(","):
        if backend == "postgres" and not os.environ.get(PG_ENV):
            print(f"postgres: skipped (set ${PG_ENV})", file=sys.stderr)
            continue
        for n in sizes:
            url = (
                ensure_sqlite(n) if backend == "sqlite" else ensure_postgres(os.environ[PG_ENV], n)
            )
            results.append(_run_child(backend, url, n))
            print(f"measured {backend} {n}", file=sys.stderr, flush=True)
    _report(results)


if __name__ == "__main__":
    main()
