"""A real aiosmtpd server on 127.0.0.1 (port 0) that takes its time with each message."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class SlowRecorder:
    """Accepts every message after ``delay`` seconds and records its recipients."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.recipients: list[str] = []
        self.lock = threading.Lock()
        self.first = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.recipients.extend(envelope.rcpt_tos)
        self.first.set()
        return "250 OK"

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(self.recipients)


class SmtpServer:
    """aiosmtpd served from a background thread with its own event loop."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> SmtpServer:
        self._thread.start()
        opened = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        self._server = opened.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _open(self) -> asyncio.AbstractServer:
        def protocol() -> SMTP:
            return SMTP(self.handler, hostname="localhost", loop=self._loop, timeout=30)

        return await self._loop.create_server(protocol, "127.0.0.1", 0)

    def __exit__(self, *exc: object) -> None:
        server = self._server

        async def close() -> None:
            if server is not None:
                server.close()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
