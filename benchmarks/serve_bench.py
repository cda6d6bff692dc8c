"""Serving the feed files: ``pressroom serve`` beside nginx, same files, same load generator.

Usage::

    python benchmarks/serve_bench.py [--seconds 5] [--rounds 3] [--no-plain]

``pressroom demo`` builds a site in a temporary folder. Then, side by side on loopback:

- ``pressroom serve`` with uvloop and httptools (the ``fast`` extra),
- ``pressroom serve`` with neither (asyncio and h11: what ``pip install .`` gives; skip it
  with ``--no-plain``),
- nginx (Debian's nginx-light, one worker process) running ``examples/nginx/pressroom.conf``
  adjusted only in ports and paths, serving the same ``public/``.

wrk (one thread) asks each for ``/all/rss.xml`` as a 200 (73 KB identity), a 304
(``If-None-Match`` with that server's ETag) and gzip (``Accept-Encoding: gzip``), on one
connection and on 32, for ``--seconds`` each; ``--rounds`` rounds, interleaved, and the
medians printed: req/s, p50 and p99 latency, and req/s as a share of nginx's. The
processes under test are started by the tests' kits (``tests/kits/servekit.py``,
``nginxkit.py``: the same code the deployment tests run).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kits"))

from daemonkit import free_port
from nginxkit import Nginx, site_config
from servekit import ServeProcess, make_demo

PATH = "/all/rss.xml"
CASES = ("200", "304", "gzip")
CONNECTIONS = (1, 32)
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Sample:
    """One wrk run: requests per second, p50 and p99 latency in ms."""

    rate: float
    p50: float
    p99: float


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str]) -> Sample:
    """Run wrk against ``url`` and read its summary."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", out, re.M)
    if rate is None or p50 is None or p99 is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return Sample(
        float(rate.group(1)),
        float(p50.group(1)) * _UNITS[p50.group(2)],
        float(p99.group(1)) * _UNITS[p99.group(2)],
    )


def case_headers(base_url: str, case: str) -> dict[str, str]:
    """The request headers of a case (the 304's ETag asked of that server)."""
    if case == "gzip":
        return {"Accept-Encoding": "gzip"}
    if case == "304":
        import httpx

        etag = httpx.get(base_url.rstrip("/") + PATH, timeout=10).headers["etag"]
        return {"If-None-Match": etag}
    return {}


@contextmanager
def servers(folder: Path, plain: bool) -> Iterator[dict[str, str]]:
    """Start every server on one demo site; yields name -> base URL."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/"
    config = make_demo(folder / "site", public_url)
    env = {"PRESSROOM_WEB__PUBLIC_URL": public_url}
    with ExitStack() as stack:
        fast = stack.enter_context(ServeProcess(config, env=env))
        urls = {f"pressroom serve ({fast.stack})": fast.url}
        if plain:
            slow = stack.enter_context(ServeProcess(config, fast=False, env=env))
            urls[f"pressroom serve ({slow.stack})"] = slow.url
        site = site_config(
            port=port,
            upstream_port=fast.port,
            root=folder / "site" / "public",
            public_url=public_url,
            hub="https://hub.example.com/",
        )
        nginx = Nginx(folder / "nginx", site, port)
        stack.enter_context(nginx)
        urls["nginx"] = nginx.url
        yield urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-plain", action="store_true", help="skip asyncio + h11")
    args = parser.parse_args()
    for program in ("wrk", "nginx"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            raise SystemExit(f"needs {program} (apt-get install wrk nginx-light)")
    samples: dict[tuple[str, str, int], list[Sample]] = {}
    with tempfile.TemporaryDirectory() as tmp, servers(Path(tmp), not args.no_plain) as urls:
        for round_number in range(args.rounds):
            for case in CASES:
                for connections in CONNECTIONS:
                    for name, url in urls.items():
                        sample = wrk(
                            url.rstrip("/") + PATH,
                            connections,
                            args.seconds,
                            case_headers(url, case),
                        )
                        samples.setdefault((name, case, connections), []).append(sample)
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    report(samples, list(urls))


def report(samples: dict[tuple[str, str, int], list[Sample]], names: list[str]) -> None:
    """Print the medians, one row per server, case and connection count."""
    print("| server | case | connections | req/s | p50 ms | p99 ms | req/s / nginx |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        for connections in CONNECTIONS:
            nginx_rate = statistics.median(s.rate for s in samples[("nginx", case, connections)])
            for name in names:
                runs = samples[(name, case, connections)]
                rate = statistics.median(s.rate for s in runs)
                p50 = statistics.median(s.p50 for s in runs)
                p99 = statistics.median(s.p99 for s in runs)
                print(
                    f"| {name} | {case} | {connections} | {rate:,.0f} | {p50:.2f} | {p99:.2f} "
                    f"| {rate / nginx_rate:.2f} |"
                )


if __name__ == "__main__":
    main()
