"""Which listener a request came in by: the public one, or the metrics one.

``pressroom serve`` listens on ``[web] host``:``port`` for everyone, and on
``[web] metrics_listen`` (default ``127.0.0.1:9464``) for Prometheus alone. Subscriber
counts by status, read before and after ``POST /subscribe``, would tell a stranger
whether an address was known, so ``/metrics`` stays off the public listener unless
``[web] metrics_token`` is set (then every scrape must send it). The metrics listener
answers ``/metrics`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["METRICS_PATH", "Doors", "MetricsListenerOnly", "on_metrics_door"]

METRICS_PATH = "/metrics"


@dataclass
class Doors:
    """The metrics listener's bound addresses (``(host, port)``), filled in by
    :func:`pressroom.web.server.serve` once the socket is bound."""

    metrics: set[tuple[str, int]] = field(default_factory=set)

    def is_metrics(self, scope: Scope) -> bool:
        """True when the request came in by the metrics listener."""
        server = scope.get("server")
        return server is not None and (str(server[0]), int(server[1])) in self.metrics


def on_metrics_door(doors: Doors, request: Request) -> bool:
    """True when ``request`` came in by the metrics listener."""
    return doors.is_metrics(request.scope)


class MetricsListenerOnly:
    """ASGI middleware: on the metrics listener, everything but ``/metrics`` is 404."""

    def __init__(self, app: ASGIApp, doors: Doors) -> None:
        self.app = app
        self.doors = doors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, unless it came by the metrics listener for another path."""
        elsewhere = scope["type"] == "http" and scope["path"] != METRICS_PATH
        if elsewhere and self.doors.is_metrics(scope):
            await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)
