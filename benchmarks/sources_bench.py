"""WordPress source sync: a first sync of N posts from MariaDB, an incremental sync of 10
changed posts, and (with ``--latency``) CMS commit -> feed file through a running worker.

Usage::

    python benchmarks/sources_bench.py [--posts 1000000] [--naive-posts 5000] [--repeat 3]
        [--latency 20]

Needs MariaDB (``$PRESSROOM_TEST_MYSQL_URL``, default ``mysql+pymysql://root@127.0.0.1:3306/test``).
A fresh database gets WordPress's tables (``tests/kits/wordpress_schema.sql``) and N
published posts (Chinese, ~1 KB each, 22 categories, an author, a views meta row each),
generated inside MariaDB from its ``seq_1_to_N`` sequence table. Then:

1. **first sync**: ``sync_one`` into a fresh SQLite store, in a forked process (rows/s, the
   machine's CPU per post, the peak RSS of the process and its helpers; ``--repeat`` runs,
   the median printed), beside a **naive**
   baseline on ``--naive-posts`` posts measured in the same run: each post read by its ID,
   its category and author looked up, checked, looked up in the store by URL and inserted,
   one commit per post (what an export script does);
2. **incremental**: 10 posts edited (new ``post_modified_gmt``), then one incremental sync
   (median of 5), without and with an index on ``post_modified_gmt`` (WordPress has none:
   the docs tell the operator to add one), beside a full pass over the same store;
3. **latency** (``--latency K``): a ``pressroom run`` with ``interval = 1`` and
   ``[feeds] watch = "1s"``; K posts published in MariaDB at random moments; commit -> the
   post in its section's ``rss.xml`` (median, p95).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import in_child

from pressroom.clock import system_clock
from pressroom.config import WordPressSourceSettings
from pressroom.demo.corpus import demo_sections
from pressroom.importer import RowParser
from pressroom.models import Section
from pressroom.sources.service import SourceSpec, section_keys, sync_one
from pressroom.sources.wordpress import paragraphs
from pressroom.store.articles import sync_sections, upsert_articles
from pressroom.store.engine import Store, open_store

SCHEMA = Path(__file__).resolve().parents[1] / "tests" / "kits" / "wordpress_schema.sql"
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOME = "https://blog.example.cn"
PARAGRAPH = "辽宁省各级党组织认真学习贯彻会议精神，推动工作落地见效。" * 6


def make_wordpress(base: str, posts: int) -> tuple[str, Engine]:
    """A fresh database with WordPress's tables and ``posts`` published posts."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    admin.dispose()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    sections = demo_sections()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET SESSION sql_mode = ''")
        for statement in SCHEMA.read_text().split(";"):
            if "CREATE" in statement:
                conn.exec_driver_sql(statement.replace("{prefix}", "wp_"))
        conn.exec_driver_sql(
            "INSERT INTO wp_options (option_name, option_value) VALUES ('sticky_posts', 'a:0:{}')"
        )
        conn.exec_driver_sql("INSERT INTO wp_users (user_login, display_name) VALUES ('a', '记者')")
        for n, section in enumerate(sections, start=1):
            conn.execute(
                text("INSERT INTO wp_terms (term_id, name, slug) VALUES (:i, :n, :s)"),
                {"i": n, "n": section.name, "s": section.slug},
            )
            conn.execute(
                text(
                    "INSERT INTO wp_term_taxonomy (term_taxonomy_id, term_id, taxonomy, "
                    "description) VALUES (:i, :i, 'category', '')"
                ),
                {"i": n},
            )
    done = 0
    step = 200_000
    while done < posts:  # in slices: one huge INSERT ... SELECT holds its undo log
        size = min(step, posts - done)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = ''")
            conn.execute(
                text(
                    f"INSERT INTO wp_posts (ID, post_author, post_date, post_date_gmt, "
                    "post_content, post_title, post_excerpt, post_status, post_name, to_ping, "
                    "pinged, post_modified, post_modified_gmt, post_content_filtered, guid, "
                    "post_type) SELECT seq + :off, 1, "
                    "'2024-01-01' + INTERVAL (seq + :off) MINUTE + INTERVAL 8 HOUR, "
                    "'2024-01-01' + INTERVAL (seq + :off) MINUTE, "
                    "CONCAT(:p, '\n\n', :p, '\n\n', :p), CONCAT('第', seq + :off, '号新闻'), "
                    "'会议强调，要坚持以人民为中心的发展思想。', 'publish', '', '', '', "
                    "'2024-01-01' + INTERVAL (seq + :off) MINUTE + INTERVAL 8 HOUR, "
                    "'2024-01-01' + INTERVAL (seq + :off) MINUTE, '', '', 'post' "
                    f"FROM seq_1_to_{size}"
                ),
                {"off": done, "p": PARAGRAPH},
            )
            conn.execute(
                text(
                    "INSERT INTO wp_term_relationships (object_id, term_taxonomy_id) "
                    f"SELECT seq + :off, 1 + (seq + :off) % {len(sections)} FROM seq_1_to_{size}"
                ),
                {"off": done},
            )
            conn.execute(
                text(
                    "INSERT INTO wp_postmeta (post_id, meta_key, meta_value) "
                    f"SELECT seq + :off, 'views', (seq + :off) % 30000 FROM seq_1_to_{size}"
                ),
                {"off": done},
            )
        done += size
    return url, engine


def spec(url: str) -> SourceSpec:
    settings = WordPressSourceSettings.model_validate(
        {"kind": "wordpress", "url": url, "home": HOME, "views_meta_key": "views"}
    )
    return SourceSpec("blog", settings, url, SHANGHAI)


def fresh_store(folder: Path, name: str) -> Store:
    store = open_store(f"sqlite:///{folder / name}.db")
    with store.write() as conn:
        sync_sections(conn, demo_sections())
    return store


def _machine_cpu() -> tuple[float, float]:
    """Seconds of CPU the whole machine has spent (busy, idle), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), idle / os.sysconf("SC_CLK_TCK")


def first_sync(url: str, folder: Path, posts: int, name: str = "first") -> float:
    """posts/s of a first sync into a fresh store; prints the machine's CPU per post too
    (every process: the sync, its helpers, MariaDB, the kernel; the sync's helpers run in
    processes of their own, so its own CPU time would say little)."""
    store = fresh_store(folder, name)
    started, (busy, idle) = time.perf_counter(), _machine_cpu()
    report = sync_one(spec(url), store, system_clock, report_bad=print)
    elapsed = time.perf_counter() - started
    busy, idle = _machine_cpu()[0] - busy, _machine_cpu()[1] - idle
    assert report.counts.inserted == posts, report.summary()
    store.dispose()
    print(
        f"  first sync ({name}): {posts / elapsed:,.0f} posts/s, "
        f"machine CPU {busy / posts * 1e6:.0f} us/post busy, {idle / posts * 1e6:.0f} us idle "
        f"({os.cpu_count()} cores), load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return posts / elapsed


def naive_sync(url: str, folder: Path, posts: int) -> float:
    """Each post read, looked up, checked and written on its own, one commit per post."""
    store = fresh_store(folder, "naive")
    sections: list[Section] = demo_sections()
    parser = RowParser(section_keys(sections), SHANGHAI)
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as cms:
        ids = [r[0] for r in cms.execute(text(f"SELECT ID FROM wp_posts LIMIT {posts}"))]
        for post_id in ids:
            post = (
                cms.execute(
                    text(
                        "SELECT p.*, u.display_name FROM wp_posts p LEFT JOIN wp_users u "
                        "ON u.ID = p.post_author WHERE p.ID = :i"
                    ),
                    {"i": post_id},
                )
                .mappings()
                .one()
            )
            category = cms.execute(
                text(
                    "SELECT t.slug FROM wp_term_relationships r JOIN wp_term_taxonomy tt ON "
                    "tt.term_taxonomy_id = r.term_taxonomy_id JOIN wp_terms t ON "
                    "t.term_id = tt.term_id WHERE r.object_id = :i LIMIT 1"
                ),
                {"i": post_id},
            ).scalar_one()
            views = cms.execute(
                text(
                    "SELECT meta_value FROM wp_postmeta WHERE post_id = :i AND meta_key = 'views'"
                ),
                {"i": post_id},
            ).scalar()
            row = parser.check(
                {
                    "url": f"{HOME}/?p={post_id}",
                    "section": category,
                    "title": post["post_title"],
                    "summary": post["post_excerpt"],
                    "body_html": paragraphs(post["post_content"]),
                    "authors": post["display_name"],
                    "published_at": post["post_date_gmt"].replace(tzinfo=UTC).isoformat(),
                    "updated_at": post["post_modified_gmt"].replace(tzinfo=UTC).isoformat(),
                    "views": int(views or 0),
                }
            )
            with store.write() as conn:
                upsert_articles(conn, [row], datetime.now(UTC))
    elapsed = time.perf_counter() - started
    engine.dispose()
    store.dispose()
    return len(ids) / elapsed


def incremental(url: str, engine: Engine, folder: Path, posts: int) -> None:
    store = open_store(f"sqlite:///{folder / 'run0'}.db")  # what the first sync wrote
    source = spec(url)
    reader = source.open(demo_sections())  # kept between syncs, as the worker keeps it
    results: dict[str, float] = {}
    for label in ("no index", "index on post_modified_gmt"):
        if label.startswith("index"):
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE wp_posts ADD INDEX pr_mod (post_modified_gmt)")
        times = []
        for _ in range(5):
            ids = random.sample(range(1, posts + 1), 10)
            with engine.begin() as conn:
                conn.exec_driver_sql("SET SESSION sql_mode = ''")
                conn.execute(
                    text(
                        "UPDATE wp_posts SET post_title = CONCAT(post_title, '（更新）'), "
                        "post_modified_gmt = UTC_TIMESTAMP() "
                        f"WHERE ID IN ({','.join(map(str, ids))})"
                    )
                )
            started = time.perf_counter()
            report = sync_one(source, store, system_clock, reader=reader, report_bad=print)
            times.append(time.perf_counter() - started)
            assert report.counts.updated == 10 and not report.full, report.summary()
        results[label] = statistics.median(times) * 1000
    started = time.perf_counter()
    sync_one(source, store, system_clock, full=True, reader=reader, report_bad=print)
    full_ms = (time.perf_counter() - started) * 1000
    for label, ms in results.items():
        print(f"incremental sync of 10 changed posts ({label}): {ms:,.0f} ms (median of 5)")
    print(f"a full pass over the same {posts:,} posts (nothing changed): {full_ms:,.0f} ms")
    indexed = results["index on post_modified_gmt"]
    print(f"ratio full / incremental with the index: {full_ms / indexed:.0f}x")
    reader.close()
    store.dispose()


def _wait_for_first_sync(store: Path, limit: float = 900.0) -> None:
    """Until the worker's first (full) sync of ``blog`` is recorded, and its build had time:
    a sample taken during that sync measures the sync, not the path of one commit."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if store.exists():
            with sqlite3.connect(store, timeout=5) as conn:
                try:
                    row = conn.execute(
                        "SELECT full_at FROM source_state WHERE name = 'blog'"
                    ).fetchone()
                except sqlite3.OperationalError:  # the tables are not there yet
                    row = None
            if row is not None and row[0] is not None:
                time.sleep(5)  # the build of the feeds that first sync changed
                return
        time.sleep(0.5)
    raise SystemExit(f"latency: the worker's first sync did not end within {limit:g} s")


def latency(url: str, engine: Engine, folder: Path, samples: int) -> None:
    config = folder / "pressroom.toml"
    lines = [
        '[site]\nbase_url = "https://news.example.cn/"\n',
        '[web]\nsecret = "bench-secret-0123456789-0123456789"\n',
        '[feeds]\nwatch = "1s"\n',
        f'[sources.blog]\nkind = "wordpress"\nurl = "{url}"\nhome = "{HOME}"\ninterval = 1\n',
    ]
    for section in demo_sections():
        lines.append(f'[[sections]]\nslug = "{section.slug}"\nname = "{section.name}"\n')
    config.write_text("\n".join(lines), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder,
    )  # fmt: skip
    waits: list[float] = []
    try:
        _wait_for_first_sync(folder / "pressroom.db")  # a million posts take a minute
        slug = demo_sections()[0].slug
        feed = folder / "public" / slug / "rss.xml"
        for n in range(samples):
            time.sleep(random.uniform(0.5, 3))
            title = f"延迟测试{n}-{uuid.uuid4().hex[:6]}"
            with engine.begin() as conn:
                conn.exec_driver_sql("SET SESSION sql_mode = ''")
                done = conn.execute(
                    text(
                        "INSERT INTO wp_posts (post_author, post_date, post_date_gmt, "
                        "post_content, post_title, post_excerpt, post_status, to_ping, pinged, "
                        "post_modified, post_modified_gmt, post_content_filtered, post_type) "
                        "VALUES (1, NOW(), UTC_TIMESTAMP(), '正文', :t, '', 'publish', '', '', "
                        "NOW(), UTC_TIMESTAMP(), '', 'post')"
                    ),
                    {"t": title},
                )
                conn.execute(
                    text("INSERT INTO wp_term_relationships VALUES (:i, 1, 0)"),
                    {"i": done.lastrowid},
                )
            committed = time.monotonic()
            while time.monotonic() - committed < 30:
                if feed.exists() and title in feed.read_text(encoding="utf-8"):
                    waits.append(time.monotonic() - committed)
                    break
                time.sleep(0.02)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    if not waits:
        print("latency: no post reached its feed within 30 s")
        return
    waits.sort()
    p95 = waits[min(len(waits) - 1, int(len(waits) * 0.95))]
    median = statistics.median(waits)
    print(f"commit -> feed file ({len(waits)}/{samples}): median {median:.2f} s, p95 {p95:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--naive-posts", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=1, help="first syncs (median printed)")
    parser.add_argument("--latency", type=int, default=0, help="commit -> feed samples")
    parser.add_argument(
        "--driver",
        choices=["pymysql", "mysqldb"],
        default="pymysql",
        help="the source's driver (mysqldb: mysqlclient, a C driver, if installed)",
    )
    args = parser.parse_args()
    base = os.environ.get("PRESSROOM_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    url, engine = make_wordpress(base, args.posts)
    print(f"{args.posts:,} WordPress posts generated in {time.perf_counter() - started:.0f} s")
    url = url.replace("+pymysql://", f"+{args.driver}://")  # what the source reads with
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            runs = []
            for n in range(args.repeat):
                # each run starts with the one before written out: the kernel's writeback of
                # its 2.4 GB would otherwise overlap this run (and slow it)
                os.sync()
                runs.append(in_child(lambda n=n: first_sync(url, folder, args.posts, f"run{n}")))
                if n:  # the incremental syncs below use run0's store
                    for path in folder.glob(f"run{n}.db*"):
                        path.unlink()
            rate = statistics.median(r for r, _ in runs)
            rss = max(m for _, m in runs)
            naive, naive_rss = in_child(lambda: naive_sync(url, folder, args.naive_posts))
            runs_said = f" (median of {args.repeat})" if args.repeat > 1 else ""
            print(f"first sync:  {rate:,.0f} posts/s{runs_said}, peak RSS {rss:.0f} MB")
            print(
                f"naive row by row ({args.naive_posts:,} posts): {naive:,.0f} posts/s, "
                f"peak RSS {naive_rss:.0f} MB; ratio {rate / naive:.1f}x"
            )
            incremental(url, engine, folder, args.posts)
            if args.latency:
                latency(url, engine, folder, args.latency)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {make_url(url).database}")
        engine.dispose()
    print(f"1-min load average at the start: {load:.1f}")


if __name__ == "__main__":
    main()
