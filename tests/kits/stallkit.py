"""A TCP proxy on 127.0.0.1 port 0 that can fall silent: a source that hangs mid-stream.

``StallingProxy(host, port)`` forwards every connection to the real server until
:meth:`StallingProxy.stall`; from then on it keeps each connection open and forwards
nothing, in either direction (a stuck proxy or a frozen server: no error, no close, no
reset, only silence). :meth:`StallingProxy.close` drops every connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class StallingProxy:
    """A TCP proxy to ``(host, port)`` that forwards until :meth:`stall`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.stalled = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        """Forward nothing more, and keep every connection open."""
        self.stalled.set()

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self.closed = True
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # now, even under a thread blocked in recv
            sock.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            while self.stalled.is_set():  # hold what came: nothing reaches the other side
                if self.closed:
                    return
                time.sleep(0.1)
            try:
                sink.sendall(data)
            except OSError:
                return
