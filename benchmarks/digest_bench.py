"""Digest delivery, end to end with the ledger: messages/s and peak RSS.

For each size, a fresh SQLite store gets the demo articles and N active subscribers
spread over 50 distinct section choices; sender processes then run the whole
``send_digest`` (select, queue N deliveries, render each distinct content once, fill in
per recipient, deliver through the ledger over SMTP) into Postfix's ``smtp-sink``, once
into a sink that offers PIPELINING (the pipelined path) and once into one started with
``-p`` (no PIPELINING: the lock-step path), side by side in the same run. ``--postfix N``
also sends N subscribers' digest into a private Postfix on loopback that queues every
message to disk (``default_transport = discard``): the figure a real relay sees. An
aiosmtpd server (a Python sink that saturates long before pressroom does) serves as a
check. A naive baseline measured in the same run renders and builds every message from
scratch (Jinja2 + css-inline + ``email.message``) and sends it over its own ``smtplib``
connection.

    python benchmarks/digest_bench.py --sizes 20000 100000 --processes 1 2 --repeat 3

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
import statistics
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kits"))  # postfix_relay

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


def start_sink(port: int, *options: str) -> subprocess.Popen[bytes]:
    """Postfix's smtp-sink on 127.0.0.1:port, ready when this returns (``-p``: without
    PIPELINING)."""
    sink = subprocess.Popen(
        [SINK, *options, "-u", os.environ.get("USER") or "root", f"127.0.0.1:{port}", "1000"],
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
        "cpu_us": sum(r["cpu"] for r in results) / max(sent, 1) * 1e6,
    }


def child(config: Path, use_uvloop: bool) -> None:
    """One sender process: the whole digest send; prints a JSON line."""
    from pressroom.digest.service import send_digest
    from pressroom.wiring import digest_config

    settings = load_settings(config)
    store = open_store(settings.store_url)

    async def main() -> dict[str, Any]:
        start, cpu = time.time(), _cpu()
        report = await send_digest(
            digest_config(settings), store, system_clock, show_progress=False
        )
        end = time.time()
        return {
            "cpu": _cpu() - cpu,
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


def _cpu() -> float:
    """CPU seconds of this process so far (every thread, user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def naive(config: Path, port: int, count: int) -> float:
    """Render, build and send ``count`` messages the naive way; messages per second."""
    from pressroom.digest.plan import plan_new_run, resolve_schedule
    from pressroom.digest.render import Renderer, RunInfo
    from pressroom.store.subscribers import active_subscribers
    from pressroom.wiring import digest_config

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
    started = 0.0
    for index, person in enumerate(people):
        if index == 1:  # the first message warms up (templates compiled): not timed
            started = time.perf_counter()
        rendered = renderer.render(plan.contents.for_subscriber(person), info)
        message = naive_message(
            settings, person.email, rendered.subject, rendered.text, rendered.html
        )
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    rate = (len(people) - 1) / (time.perf_counter() - started)
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
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians printed")
    parser.add_argument("--baseline", type=int, default=300, help="messages for the naive way")
    parser.add_argument("--postfix", type=int, default=20_000, help="subscribers (0: skip)")
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
          f"connections per process; {loop_name}", flush=True)  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    try:
        run_all(args, workdir, uvloop)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")


Key = tuple[str, str, int, int]  # (server, path, subscribers, processes)


def fresh(template: Path, folder: Path) -> Path:
    """A copy of a prepared site (config and store): a digest run completes its period."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(template.parent, folder)
    return folder / template.name


def line(label: str, got: dict[str, float], baseline: float) -> str:
    return (f"{label:<34} {got['sent']:>7.0f} msgs  {got['rate']:6.0f} msg/s  "
            f"{got['seconds']:6.1f} s  {got['cpu_us']:4.0f} us CPU/msg  "
            f"peak RSS {got['rss_mb']:4.0f} MB  "
            f"x{got['rate'] / baseline:5.1f} naive  (failed {got['failed']:.0f})")  # fmt: skip


def run_all(args: argparse.Namespace, workdir: Path, uvloop: bool) -> None:
    templates = {size: prepare(workdir / f"t{size}", size) for size in args.sizes}
    if args.postfix and args.postfix not in templates:
        templates[args.postfix] = prepare(workdir / f"t{args.postfix}", args.postfix)
    naive_site = prepare(workdir / "naive", max(args.baseline * 2, 1000))
    ports = {"pipelined": free_port(), "lock-step": free_port()}
    sinks = [start_sink(ports["pipelined"]), start_sink(ports["lock-step"], "-p")]
    results: dict[Key, list[dict[str, float]]] = {}
    baselines: list[float] = []
    try:
        for rep in range(args.repeat):
            baselines.append(naive(naive_site, ports["lock-step"], args.baseline))
            print(f"[{rep + 1}] naive baseline {args.baseline} msgs {baselines[-1]:.0f} msg/s",
                  flush=True)  # fmt: skip
            for size in args.sizes:
                for processes in args.processes:
                    for path, port in ports.items():
                        config = fresh(templates[size], workdir / "run")
                        got = run_senders(config, port, processes, args.connections, uvloop)
                        results.setdefault(("smtp-sink", path, size, processes), []).append(got)
                        label = f"[{rep + 1}] smtp-sink {path} {size} x{processes}"
                        print(line(label, got, baselines[-1]), flush=True)
            if args.postfix:
                template = templates[args.postfix]
                run_postfix(args, template, workdir, uvloop, results, baselines[-1], rep)
    finally:
        for sink in sinks:
            sink.kill()
            sink.wait()
    summary(results, baselines)
    if args.aiosmtpd:
        aport = free_port()
        handler, _, loop = start_aiosmtpd(aport)
        config = prepare(workdir / "aiosmtpd", args.aiosmtpd)
        got = run_senders(config, aport, 1, args.connections, uvloop)
        loop.call_soon_threadsafe(loop.stop)
        print(f"aiosmtpd (check)  {got['sent']:>7.0f} msgs  {got['rate']:6.0f} msg/s  "
              f"peak RSS {got['rss_mb']:4.0f} MB  (server counted {handler.count})")  # fmt: skip


def run_postfix(
    args: argparse.Namespace,
    template: Path,
    workdir: Path,
    uvloop: bool,
    results: dict[Key, list[dict[str, float]]],
    baseline: float,
    rep: int,
) -> None:
    """The digest into a private Postfix that queues to disk, with and without PIPELINING."""
    from postfix_relay import PostfixRelay, missing

    if missing() is not None:
        print(f"postfix skipped: {missing()}")
        return
    # No "sleep 1" before the greeting: one second per connection is not the relay's speed.
    plain = {"smtpd_client_restrictions": "", "default_process_limit": "200"}
    hide = {"smtpd_discard_ehlo_keywords": "pipelining"}
    for path, extra in (("pipelined", {}), ("lock-step", hide)):
        with PostfixRelay(settings={**plain, **extra}) as relay:
            config = fresh(template, workdir / "run")
            got = run_senders(config, relay.port, 1, args.connections, uvloop)
            results.setdefault(("postfix", path, args.postfix, 1), []).append(got)
            print(line(f"[{rep + 1}] postfix {path} {args.postfix} x1", got, baseline), flush=True)


def summary(results: dict[Key, list[dict[str, float]]], baselines: list[float]) -> None:
    """Medians of every configuration, pipelined beside lock-step."""
    base = statistics.median(baselines)
    print(f"\n## medians of {len(baselines)} run(s); naive baseline {base:.0f} msg/s "
          f"(runs: {', '.join(f'{b:.0f}' for b in baselines)})")  # fmt: skip
    print("| server | subscribers | processes | pipelined msg/s (runs) | lock-step msg/s | "
          "pipelined / lock-step | CPU µs/msg pipelined / lock-step | peak RSS (MB) | "
          "x naive (pipelined) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(server, size, procs) for server, _, size, procs in results})
    for server, size, procs in keys:
        piped = results.get((server, "pipelined", size, procs), [])
        stepped = results.get((server, "lock-step", size, procs), [])
        rate_p = statistics.median(r["rate"] for r in piped) if piped else 0.0
        rate_l = statistics.median(r["rate"] for r in stepped) if stepped else 0.0
        rss = max(r["rss_mb"] for r in piped + stepped)
        spread = ", ".join(f"{r['rate']:.0f}" for r in piped)
        ratio = rate_p / rate_l if rate_l else 0.0
        cpu_p = statistics.median(r["cpu_us"] for r in piped) if piped else 0.0
        cpu_l = statistics.median(r["cpu_us"] for r in stepped) if stepped else 0.0
        print(f"| {server} | {size:,} | {procs} | {rate_p:,.0f} ({spread}) | {rate_l:,.0f} | "
              f"{ratio:.2f} | {cpu_p:.0f} / {cpu_l:.0f} | {rss:.0f} | "
              f"{rate_p / base:.1f} |")  # fmt: skip


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
