"""Publishing latency: a running ``pressroom run`` with the feeds watch against the cron.

Usage::

    python benchmarks/latency_bench.py [--samples 30] [--cron-samples 6] [--idle 60]

A real ``pressroom run`` process works on a SQLite store holding the demo corpus, with a
WebSub hub on loopback (a small Starlette app, in this process, that stamps each publish
request on arrival). At random moments a separate process commits one new article (as a
CMS would) and prints the time of its commit; this process then measures

(a) commit -> the section's ``rss.xml`` on disk holds the article, and
(b) commit -> the hub received the ``hub.mode=publish`` request for that feed,

first with ``[feeds] watch = "1s"`` (``--samples`` articles, 0.5-3 s apart), then for the
baseline of a feeds schedule ``*/1 * * * *`` with the watch off (``--cron-samples``
articles, each at a random moment of its own slice of the minute, so that a few samples
cover the whole minute: up to a minute per sample, so fewer).
It prints median and p95 of each, and their ratios (cron / watch). Last, the CPU time the
watching worker used over ``--idle`` quiet seconds (``/proc/<pid>/stat``), as a share of
one core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pressroom.demo.corpus import DEMO_BASE_URL, demo_sections, load_demo
from pressroom.demo.site_config import render_demo_config
from pressroom.store.engine import open_store

PRESSROOM = Path(sys.executable).parent / "pressroom"
TARGETS = {"file_p95": 2.0, "ping_p95": 3.0, "idle_cpu": 0.01}
WRITE = """
import sys, time, json
from datetime import UTC, datetime
from pressroom.store.articles import upsert_articles
from pressroom.store.engine import open_store
store = open_store(sys.argv[1])
row = json.loads(sys.argv[2])
row["published_at"] = datetime.fromisoformat(row["published_at"])
with store.write() as conn:
    upsert_articles(conn, [row], datetime.now(UTC))
print(time.time(), flush=True)
"""


@dataclass
class Hub:
    """Publish pings as they arrive: (wall time, feed URL)."""

    pings: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_ping(self, url: str, after: float) -> float | None:
        with self.lock:
            return next((t for t, u in self.pings if u == url and t >= after), None)


def start_hub(hub: Hub) -> tuple[str, uvicorn.Server, threading.Thread]:
    async def endpoint(request: Request) -> Response:
        arrived = time.time()
        form = await request.form()
        with hub.lock:
            hub.pings += [(arrived, str(url)) for url in form.getlist("hub.url")]
        return Response(status_code=202)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = Starlette(routes=[Route("/hub", endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/hub", server, thread


def make_site(root: Path, hub_url: str, *, watch: str, cron: str) -> Path:
    public = "https://feeds.dangjian.example.cn/"
    text = render_demo_config(public_url=public)
    text = text.replace("[feeds]\n", f'[feeds]\nwebsub_hub = "{hub_url}"\n', 1)
    text = text.replace('\nwatch = "2s"\n', f'\nwatch = "{watch}"\n', 1)
    # only the feeds schedule, on the cron asked for: no digest runs in the measurements
    feeds = '[[schedules]]\nname = "feeds"\njob = "feeds"\n'
    start, web = text.index(feeds), text.index("\n[web]\n")
    text = f'{text[:start]}{feeds}cron = "{cron}"\n{text[web:]}'
    config = root / "pressroom.toml"
    config.write_text(text, encoding="utf-8")
    return config


def seed(store_url: str) -> None:
    store = open_store(store_url)
    try:
        load_demo(store, datetime.now(UTC), subscribers=False)
    finally:
        store.dispose()


def commit_article(store_url: str, n: int, slug: str, tag: str) -> tuple[float, str]:
    url = f"{DEMO_BASE_URL}{slug}/bench/{tag}-{n}.html"
    row = {
        "url": url,
        "section": slug,
        "title": f"基准测试文章 {tag} {n}",
        "summary": "基准测试。",
        "body_html": "<p>基准测试。</p>",
        "authors": "文字:基准",
        "image_url": None,
        "published_at": datetime.now(UTC).isoformat(),
        "updated_at": None,
        "views": 0,
        "priority": 0,
        "status": "published",
    }
    done = subprocess.run(
        [sys.executable, "-c", WRITE, store_url, json.dumps(row)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1]), url


def on_disk(path: Path, needle: bytes) -> float | None:
    """Now, if ``path`` holds ``needle``."""
    try:
        return time.time() if needle in path.read_bytes() else None
    except FileNotFoundError:
        return None


def wait_for(check: Callable[[], float | None], timeout: float) -> float:
    """The time ``check`` returned, polling every 10 ms."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    raise RuntimeError(f"nothing within {timeout}s")


def measure(
    root: Path, hub: Hub, samples: int, cron: bool, tag: str, timeout: float
) -> tuple[list[float], list[float]]:
    out, store_url = root / "public", f"sqlite:///{root / 'pressroom.db'}"
    public = "https://feeds.dangjian.example.cn/"
    slugs = [s.slug for s in demo_sections()]
    rng = random.Random(f"latency-{tag}")
    to_file, to_ping = [], []
    for n in range(samples):
        time.sleep(_cron_phase(n, samples, rng) if cron else rng.uniform(0.5, 3.0))
        slug = rng.choice(slugs)
        committed, url = commit_article(store_url, n, slug, tag)
        rss = out / slug / "rss.xml"
        needle = url.encode()

        to_file.append(wait_for(partial(on_disk, rss, needle), timeout) - committed)
        ping = partial(hub.first_ping, f"{public}{slug}/rss.xml", committed)
        to_ping.append(wait_for(ping, timeout) - committed)
        print(
            f"  {tag} {n + 1:>2}/{samples}: file {to_file[-1]:6.2f}s  ping {to_ping[-1]:6.2f}s",
            flush=True,
        )
    return to_file, to_ping


def _cron_phase(n: int, samples: int, rng: random.Random) -> float:
    """Seconds to wait so that commit ``n`` falls at a random moment of its own slice of
    the minute: a few samples still spread over the whole minute, as commits do."""
    target = (n + rng.random()) / samples * 60
    return (target - time.time() % 60) % 60


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_worker(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PRESSROOM), "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)


def scenario(
    base: Path, hub: Hub, hub_url: str, *, watch: str, cron: str, samples: int, idle: float
) -> tuple[list[float], list[float], float | None]:
    root = base / ("watch" if watch != "0" else "cron")
    root.mkdir()
    config = make_site(root, hub_url, watch=watch, cron=cron)
    seed(f"sqlite:///{root / 'pressroom.db'}")
    subprocess.run(
        [str(PRESSROOM), "--config", str(config), "feeds", "build"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    worker = run_worker(config)
    try:
        time.sleep(3)  # started, first look done
        if watch != "0":
            to_file, to_ping = measure(root, hub, samples, False, "watch", 30)
        else:
            to_file, to_ping = measure(root, hub, samples, True, "cron", 130)
        share = None
        if idle:
            time.sleep(5)  # the last build's pings and commits settle
            before, started = cpu_seconds(worker.pid), time.monotonic()
            time.sleep(idle)
            share = (cpu_seconds(worker.pid) - before) / (time.monotonic() - started)
    finally:
        stop(worker)
    return to_file, to_ping, share


def line(name: str, values: list[float]) -> str:
    return f"{name:<28} median {statistics.median(values):6.2f}s   p95 {p95(values):6.2f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30, help="articles with the watch")
    parser.add_argument("--cron-samples", type=int, default=6, help="articles with the cron")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds for CPU")
    parser.add_argument("--watch", default="1s")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pressroom-latency-"))
    hub = Hub()
    hub_url, server, _thread = start_hub(hub)
    try:
        print(f"load average {os.getloadavg()[0]:.2f}; watch = {args.watch!r}", flush=True)
        w_file, w_ping, share = scenario(
            base,
            hub,
            hub_url,
            watch=args.watch,
            cron="0 0 1 1 *",
            samples=args.samples,
            idle=args.idle,
        )
        c_file, c_ping, _ = (
            scenario(
                base, hub, hub_url, watch="0", cron="*/1 * * * *", samples=args.cron_samples, idle=0
            )
            if args.cron_samples
            else ([], [], None)
        )
    finally:
        server.should_exit = True
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"watch = {args.watch!r}, {len(w_file)} articles:")
    print(line("  (a) commit -> feed file", w_file))
    print(line("  (b) commit -> hub ping", w_ping))
    if c_file:
        print(f"cron */1 * * * * (watch off), {len(c_file)} articles:")
        print(line("  (a) commit -> feed file", c_file))
        print(line("  (b) commit -> hub ping", c_ping))
        print(
            f"ratio cron / watch (median): file "
            f"{statistics.median(c_file) / statistics.median(w_file):.1f}x, ping "
            f"{statistics.median(c_ping) / statistics.median(w_ping):.1f}x"
        )
    if share is not None:
        print(f"idle worker CPU over {args.idle:.0f}s: {share * 100:.2f}% of one core")
    ok = p95(w_file) <= TARGETS["file_p95"] and p95(w_ping) <= TARGETS["ping_p95"]
    ok = ok and (share is None or share < TARGETS["idle_cpu"])
    print(f"targets (p95 file <= 2 s, p95 ping <= 3 s, idle < 1 %): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
