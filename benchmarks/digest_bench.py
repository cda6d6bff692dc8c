"""Digest delivery, end to end with the ledger: messages/s and peak RSS.

For each size, a fresh SQLite store gets the demo articles and N active subscribers
spread over 50 distinct section choices; a sender process then runs the whole
``send_digest`` (select, queue N deliveries, render each distinct content once, fill in
per recipient, deliver through the ledger over SMTP) into Postfix's ``smtp-sink``. The
same end-to-end run also goes to an aiosmtpd server (a Python sink: it saturates long
before pressroom does, so it serves as a check, not a target). A naive baseline measured
in the same run renders and builds every message from scratch (Jinja2 + css-inline +
``email.message``) and sends it over its own ``smtplib`` connection.

    python benchmarks/digest_bench.py --sizes 10000 100000 --processes 2

Rates are messages accepted (final 250) per second of the send, from the start of
``send_digest`` to its return; peak RSS is the sender process's maximum resident size.
uvloop is used when it is installed (``--no-uvloop`` to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from pressroom.clock import system_clock
from pressroom.config import Settings, load_settings
from pressroom.demo.corpus import demo_sections, load_demo
from pressroom.demo.site_config import render_demo_config
from pressroom.store.engine import open_store
from pressroom.store.schema import subscribers

SINK = "/usr/sbin/smtp-sink"
CHOICES = 50


# ---------------------------------------------------------------------------- setup


def section_choices(count: int = CHOICES, seed: int = 7) -> list[tuple[str, ...]]:
    """``count`` distinct section choices: "everything" plus combinations of 1-4 slugs."""
    slugs = [s.slug for s in demo_sections()]
    rng = random.Random(seed)
    choices: list[tuple[str, ...]] = [()]
    while len(choices) < count:
        pick = tuple(sorted(rng.sample(slugs, rng.randint(1, 4))))
        if pick not in choices:
            choices.append(pick)
    return choices


def prepare(folder: Path, count: int) -> Path:
    """A config, a store with the demo articles and ``count`` subscribers; the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "pressroom.toml"
    config.write_text(render_demo_config(), encoding="utf-8")
    settings = load_settings(config)
    store = open_store(settings.store_url)
    now = system_clock()
    load_demo(store, now, subscribers=False)
    choices = section_choices()
    rows = (
        {
            "email": f"reader{i}@example.org",
            "name": f"读者{i}",
            "status": "active",
            "sections": ",".join(choices[i % len(choices)]),
            "frequency": "daily",
            "email_key": f"reader{i}@example.org",
            "public_key": f"k{i:015d}",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    )
    batch: list[dict[str, Any]] = []
    with store.write() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) == 5000:
                conn.execute(insert(subscribers), batch)
                batch = []
        if batch:
            conn.execute(insert(subscribers), batch)
    store.dispose()
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    """Postfix's smtp-sink on 127.0.0.1:port, ready when this returns."""
    sink = subprocess.Popen(
        [SINK, "-u", os.environ.get("USER") or "root", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return sink
        except OSError:
            time.sleep(0.05)
    sink.kill()
    raise SystemExit(
        f"smtp-sink did not start: {sink.stderr.read().decode() if sink.stderr else ''}"
    )


def sender_env(port: int, connections: int) -> dict[str, str]:
    """The environment that points a sender's config at the sink (PRESSROOM_* overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    env.update(
        PRESSROOM_MAIL__TRANSPORT="smtp",
        PRESSROOM_MAIL__SMTP__HOST="127.0.0.1",
        PRESSROOM_MAIL__SMTP__PORT=str(port),
        PRESSROOM_MAIL__SMTP__TLS="none",
        PRESSROOM_MAIL__SMTP__CONNECTIONS=str(connections),
        PRESSROOM_MAIL__SMTP__TIMEOUT="60",
    )
    return env


# ---------------------------------------------------------------------------- runs


def run_senders(
    config: Path, port: int, processes: int, connections: int, uvloop: bool
) -> dict[str, float]:
    """Start ``processes`` sender processes on one run; their combined rate and peak RSS."""
    command = [sys.executable, __file__, "--child", str(config)]
    if not uvloop:
        command.append("--no-uvloop")
    env = sender_env(port, connections)
    children = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"a sender failed (exit {child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    sent = sum(r["sent"] for r in results)
    return {
        "sent": sent,
        "failed": sum(r["failed"] for r in results),
        "recipients": max(r["recipients"] for r in results),
        "seconds": seconds,
        "rate": sent / seconds,
        "rss_mb": max(r["rss_mb"] for r in results),
    }


def child(config: Path, use_uvloop: bool) -> None:
    """One sender process: the whole digest send; prints a JSON line."""
    from pressroom.digest.service import send_digest

    settings = load_settings(config)
    store = open_store(settings.store_url)

    async def main() -> dict[str, Any]:
        start = time.time()
        report = await send_digest(settings, store, system_clock, show_progress=False)
        end = time.time()
        return {
            "sent": report.sent,
            "failed": report.failed + report.uncertain,
            "recipients": report.recipients,
            "start": start,
            "end": end,
        }

    if use_uvloop:
        try:
            import uvloop

            result = uvloop.run(main())
        except ImportError:
            result = asyncio.run(main())
    else:
        result = asyncio.run(main())
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def naive(config: Path, port: int, count: int) -> float:
    """Render, build and send ``count`` messages the naive way; messages per second."""
    from pressroom.digest.config import digest_config
    from pressroom.digest.plan import plan_new_run, resolve_schedule
    from pressroom.digest.render import Renderer, RunInfo
    from pressroom.store.subscribers import active_subscribers

    settings = load_settings(config)
    store = open_store(settings.store_url)
    schedule = resolve_schedule(settings.schedules, None)
    config = digest_config(settings)
    now = system_clock()
    with store.read() as conn:
        plan = plan_new_run(conn, config, schedule, now, now)
        people = [p for p in active_subscribers(conn, plan.frequency)[: count * 2]
                  if plan.contents.for_subscriber(p)][:count]  # fmt: skip
    info = RunInfo(plan.frequency, plan.window_end, schedule.zone(config.site_timezone))
    renderer = Renderer(config)
    started = time.perf_counter()
    for person in people:
        rendered = renderer.render(plan.contents.for_subscriber(person), info)
        message = naive_message(
            settings, person.email, rendered.subject, rendered.text, rendered.html
        )
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    rate = len(people) / (time.perf_counter() - started)
    store.dispose()
    return rate


def naive_message(settings: Settings, to: str, subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{settings.site.name} <{settings.mail.from_address}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<naive.{to}>"
    message["List-Unsubscribe"] = f"<mailto:{settings.mail.from_address}?subject=unsubscribe>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class _Counter:
    """A minimal aiosmtpd handler: count, keep nothing."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def start_aiosmtpd(port: int) -> tuple[Any, threading.Thread, asyncio.AbstractEventLoop]:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    handler = _Counter()

    async def open_server() -> asyncio.AbstractServer:
        return await loop.create_server(
            lambda: SMTP(handler, hostname="localhost", loop=loop), "127.0.0.1", port
        )

    asyncio.run_coroutine_threadsafe(open_server(), loop).result(10)
    return handler, thread, loop


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--baseline", type=int, default=300, help="messages for the naive way")
    parser.add_argument("--aiosmtpd", type=int, default=5_000, help="subscribers (0: skip)")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, not args.no_uvloop)
        return
    if not Path(SINK).exists():
        raise SystemExit(f"{SINK} is missing: apt-get install postfix")
    uvloop = not args.no_uvloop and _has_uvloop()
    loop_name = "uvloop" if uvloop else "asyncio"
    print(f"# {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.connections} "
          f"connections x {args.processes} process(es); {loop_name}")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    try:
        run_all(args, workdir, uvloop)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(args: argparse.Namespace, workdir: Path, uvloop: bool) -> None:
    port = free_port()
    sink = start_sink(port)
    try:
        config = prepare(workdir / "naive", max(args.baseline * 2, 1000))
        baseline = naive(config, port, args.baseline)
        print(f"naive baseline   {args.baseline:>7} msgs  {baseline:8.0f} msg/s")
        for size in args.sizes:
            config = prepare(workdir / f"n{size}", size)
            got = run_senders(config, port, args.processes, args.connections, uvloop)
            print(f"smtp-sink        {got['sent']:>7.0f} msgs  {got['rate']:8.0f} msg/s  "
                  f"{got['seconds']:6.1f} s  peak RSS {got['rss_mb']:5.0f} MB  "
                  f"x{got['rate'] / baseline:.1f} naive  (failed {got['failed']:.0f}, "
                  f"recipients {got['recipients']:.0f})")  # fmt: skip
    finally:
        sink.kill()
        sink.wait()
    if args.aiosmtpd:
        aport = free_port()
        handler, _, loop = start_aiosmtpd(aport)
        config = prepare(workdir / "aiosmtpd", args.aiosmtpd)
        got = run_senders(config, aport, args.processes, args.connections, uvloop)
        loop.call_soon_threadsafe(loop.stop)
        print(f"aiosmtpd         {got['sent']:>7.0f} msgs  {got['rate']:8.0f} msg/s  "
              f"{got['seconds']:6.1f} s  peak RSS {got['rss_mb']:5.0f} MB  "
              f"(server counted {handler.count})")  # fmt: skip


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
