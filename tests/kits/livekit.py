"""A real uvicorn server for an ASGI app, in a thread, on 127.0.0.1 port 0 (any test folder)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import uvicorn

from pressroom.web.server import bind


class LiveServer:
    """uvicorn serving an app on a socket bound to 127.0.0.1 port 0, in a thread."""

    def __init__(self, app_factory: Callable[[str], object]) -> None:
        # pressroom serve's own listener: it names TCP, so asyncio (without uvloop) turns
        # Nagle off on each connection; a bare socket() would add ~40 ms to small answers
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        config = uvicorn.Config(
            app_factory(self.url), log_level="warning", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
