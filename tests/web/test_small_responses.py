"""Small responses on one kept-alive connection arrive at once, with or without uvloop.

The stall this guards against: with the listening socket created without naming TCP,
asyncio left Nagle's algorithm on for accepted connections; uvicorn writes a response's
head and body separately, so the body of every small response waited for the client's
delayed ACK (~40 ms on Linux). uvloop sets TCP_NODELAY itself, so the suite (which has
uvloop) never saw it; users who ran ``pip install .`` did.
"""

from __future__ import annotations

import http.client
import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servekit import ServeProcess, make_demo

pytestmark = [pytest.mark.slow, pytest.mark.alone]  # it measures milliseconds

STALL_MS = 40.0
"""Linux's minimum delayed-ACK time: a response this late waited for an ACK."""

LIMIT_MS = 25.0
"""Well under the stall: a loaded test machine may be slow, never 40 ms slow every time."""

HAS_FAST_STACK = all(importlib.util.find_spec(m) for m in ("uvloop", "httptools"))

SMALL_REQUESTS = [
    ("/no-such-page", {}, 404),
    ("/feeds.opml", {}, 200),
    ("/all/rss.xml", {"Accept-Encoding": "gzip"}, 200),
    ("/subscribe", {}, 200),
]


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("small") / "site", "http://127.0.0.1:9/")


@pytest.fixture(
    params=[
        pytest.param(False, id="asyncio-h11"),
        pytest.param(
            True,
            id="uvloop-httptools",
            marks=pytest.mark.skipif(not HAS_FAST_STACK, reason="uvloop/httptools not installed"),
        ),
    ]
)
def server(request: pytest.FixtureRequest, demo_config: Path) -> Iterator[ServeProcess]:
    with ServeProcess(demo_config, fast=request.param) as served:
        yield served


def timed_responses(port: int, rounds: int) -> list[tuple[str, int, int, float]]:
    """(path, status, body size, milliseconds) of each request, all on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    sock = conn.sock
    timings = []
    try:
        for _ in range(rounds):
            for path, headers, _status in SMALL_REQUESTS:
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                timings.append((path, response.status, len(body), elapsed))
                assert conn.sock is sock, "the server closed the kept-alive connection"
    finally:
        conn.close()
    return timings


ATTEMPTS = 3
"""The stall delays every small response, every time; a loaded test machine delays a few,
now and then. So 20 responses all under the limit in one of a few attempts passes, and
the stall fails every attempt."""


def test_twenty_small_responses_on_one_connection_each_arrive_at_once(
    server: ServeProcess,
) -> None:
    expected_stack = "uvloop, httptools" if server.fast else "asyncio, h11"
    assert server.stack == expected_stack
    timed_responses(server.port, 1)  # templates compiled, files cached, gzip made
    late_runs = []
    for _attempt in range(ATTEMPTS):
        timings = timed_responses(server.port, 5)
        assert len(timings) == 20
        statuses = [status for _path, status, _size, _ms in timings]
        assert statuses == [status for _p, _h, status in SMALL_REQUESTS] * 5
        sizes = [size for _path, _status, size, _ms in timings]
        assert all(1_000 < size < 16_000 for size in sizes), sizes  # small, not empty
        late = [(path, round(ms, 1)) for path, _status, _size, ms in timings if ms >= LIMIT_MS]
        if not late:
            return
        late_runs.append(late)
    raise AssertionError(
        f"in each of {ATTEMPTS} runs, responses took {LIMIT_MS} ms or more "
        f"({STALL_MS} ms is the stall): {late_runs}"
    )
