"""Running the app under uvicorn (``pressroom serve``).

The listening sockets are bound here, before uvicorn starts, so ``--port 0`` works and the
real addresses can be printed: the public one, and ``[web] metrics_listen`` for
Prometheus (:mod:`pressroom.web.doors`). uvicorn handles SIGINT/SIGTERM (graceful shutdown) and, by
default, trusts ``X-Forwarded-For`` only from 127.0.0.1 (a reverse proxy on the machine).
The event loop and HTTP parser are uvloop and httptools when installed (``pip install
'pressroom[fast]'``), else asyncio and h11; the second line printed names them.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.applications import Starlette

from pressroom.config import listen_address
from pressroom.errors import UsageError
from pressroom.web.context import WebContext
from pressroom.web.doors import Doors

__all__ = ["STOP_SECONDS", "bind", "serve", "server_stack"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

STOP_SECONDS = 10
"""After SIGTERM, requests in flight get this long to finish before their connections
are closed (the web unit's ``TimeoutStopSec`` allows for it)."""


def bind(host: str, port: int, setting: str = "web.host/web.port") -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises:
        UsageError: the address is taken or cannot be used (``setting`` names where it is set).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol must be named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # sockets whose ``proto`` is IPPROTO_TCP, and accepted sockets inherit the listener's.
    # With proto 0, uvicorn's two writes per response (head, then body) met the client's
    # delayed ACK and every small response on a kept-alive connection waited ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen now, so that a client reading the "serving" line may connect at once:
        # connections wait in the backlog until uvicorn accepts them.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({setting}): {exc}") from exc
    sock.set_inheritable(True)
    return sock


def serve(
    app: Starlette,
    *,
    host: str | None = None,
    port: int | None = None,
    out: Callable[[str], None] = print,
) -> None:
    """Serve ``app`` (from :func:`pressroom.web.create_app`) until SIGINT/SIGTERM.

    ``host`` and ``port`` override ``[web] host`` and ``port``.

    Raises:
        UsageError: the address cannot be bound.
    """
    ctx: WebContext = app.state.ctx
    web = ctx.config.web
    sock = bind(host or web.host, web.port if port is None else port)
    sockets = [sock]
    try:
        if web.metrics_listen:
            sockets.append(bind(*listen_address(web.metrics_listen), "web.metrics_listen"))
        out(f"pressroom: serving {_url(sock)}/ (public URL {web.public_url})")
        if len(sockets) > 1:
            doors: Doors = app.state.doors
            doors.metrics.add(_address(sockets[1]))
            out(f"pressroom: metrics on {_url(sockets[1])}/metrics")
        loop, http = server_stack()
        out(f"pressroom: feeds from {ctx.config.feeds_dir} ({loop}, {http})")
        config = uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            server_header=False,
            loop=loop,
            http=http,
            timeout_graceful_shutdown=STOP_SECONDS,
        )
        with _stop_quietly():
            uvicorn.Server(config).run(sockets=sockets)
    finally:
        for each in sockets:
            each.close()
    out("pressroom: stopped")


def server_stack() -> tuple[Literal["uvloop", "asyncio"], Literal["httptools", "h11"]]:
    """The event loop and HTTP parser to serve with: the fast ones where installed."""
    loop: Literal["uvloop", "asyncio"] = "uvloop" if _installed("uvloop") else "asyncio"
    http: Literal["httptools", "h11"] = "httptools" if _installed("httptools") else "h11"
    return loop, http


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _url(sock: socket.socket) -> str:
    host, port = _address(sock)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def _stop_quietly() -> Iterator[None]:
    """Make SIGTERM/SIGINT a clean exit (status 0) after uvicorn's graceful shutdown.

    uvicorn re-raises the signal it caught once it has shut down, against the handler
    that was installed before it started; a no-op handler here turns that into a return.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
