"""The Starlette app: routes, limits and error pages.

| route | does |
|---|---|
| ``GET /`` | the feed index (``index.html``) with the subscribe form |
| ``GET /subscribe``, ``POST /subscribe`` | double opt-in subscribe (rate-limited) |
| ``GET /confirm/<token>`` | a page with one button (changes nothing) |
| ``POST /confirm/<token>`` | the button: confirm the subscription |
| ``GET /unsubscribe/<token>`` | a page with one button (changes nothing) |
| ``POST /unsubscribe/<token>`` | unsubscribe at once (RFC 8058 one-click) |
| ``GET``/``POST /preferences/<token>`` | sections and frequency, or unsubscribe |
| ``GET /healthz`` | store and worker heartbeat |
| ``GET /metrics`` | Prometheus metrics: on ``metrics_listen`` (:mod:`~pressroom.web.doors`) |
| ``POST``/``DELETE /api/articles`` | articles a CMS pushes (``[web] ingest_token``; else 404) |
| ``GET /<path>`` | the feed files of the output directory (:class:`FileServer`, before routing) |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pressroom.clock import Clock, system_clock
from pressroom.config import Settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.errors import ConfigError
from pressroom.store.engine import Store
from pressroom.web.common import message
from pressroom.web.context import SendMail, WebConfig, WebContext
from pressroom.web.doors import METRICS_PATH, Doors, MetricsListenerOnly, on_metrics_door
from pressroom.web.feed_links import feed_links
from pressroom.web.file_server import FileServer
from pressroom.web.health import healthz
from pressroom.web.routes_feeds import cache_seconds, index_page, not_a_file
from pressroom.web.routes_ingest import articles_delete, articles_other, articles_post
from pressroom.web.routes_manage import (
    preferences_page,
    preferences_post,
    unsubscribe_page,
    unsubscribe_post,
)
from pressroom.web.routes_metrics import metrics_endpoint
from pressroom.web.routes_subscribe import (
    confirm_page,
    confirm_post,
    subscribe_page,
    subscribe_post,
)
from pressroom.web.security import SecurityHeaders

__all__ = ["MAX_BODY_BYTES", "allowed_methods", "create_app", "reserved_segments", "web_config"]

MAX_BODY_BYTES = 64 * 1024
"""No form of ours is bigger; a larger body is refused before it is read."""

Endpoint = Callable[[WebContext, Request], Awaitable[Response]]


def web_config(settings: Settings) -> WebConfig:
    """The web app's part of ``settings``, paths resolved."""
    return WebConfig(
        site=settings.site,
        web=settings.web,
        mail=settings.mail,
        outbox=settings.path(settings.mail.outbox),
        feeds_dir=settings.path(settings.feeds.output_dir),
        feeds_url=settings.feeds_public_url,
        hubs=settings.feeds.hubs,
        feed_ttl=settings.feeds.ttl,
        schedules=tuple(settings.schedules),
        sources=tuple(sorted(settings.sources)),
    )


def _default_sender(config: WebConfig) -> SendMail:
    async def send(msg: OutgoingMessage) -> None:
        from pressroom.delivery.single import send_one

        await send_one(config.mail, config.outbox, msg)

    return send


def _routes(ctx: WebContext, doors: Doors) -> list[Route]:
    def route(path: str, endpoint: Endpoint, methods: list[str]) -> Route:
        return Route(path, partial(endpoint, ctx), methods=methods, name=endpoint.__name__)

    return [
        route("/", index_page, ["GET", "HEAD"]),
        route("/healthz", healthz, ["GET", "HEAD"]),
        route(METRICS_PATH, _metrics(ctx.config, doors), ["GET", "HEAD"]),
        route("/subscribe", subscribe_page, ["GET", "HEAD"]),
        route("/subscribe", subscribe_post, ["POST"]),
        route("/confirm/{token}", confirm_page, ["GET", "HEAD"]),
        route("/confirm/{token}", confirm_post, ["POST"]),
        route("/unsubscribe/{token}", unsubscribe_page, ["GET", "HEAD"]),
        route("/unsubscribe/{token}", unsubscribe_post, ["POST"]),
        route("/preferences/{token}", preferences_page, ["GET", "HEAD"]),
        route("/preferences/{token}", preferences_post, ["POST"]),
        route("/api/articles", articles_post, ["POST"]),
        route("/api/articles", articles_delete, ["DELETE"]),
        Route("/api/articles", _AnyMethod(partial(articles_other, ctx)), name="articles_other"),
        route("/{path:path}", not_a_file, ["GET", "HEAD"]),
    ]


class _AnyMethod:
    """An endpoint as a plain ASGI app, so its route takes every method (Starlette gives a
    function's route GET alone): the ingest API answers a PUT or a made-up method itself."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with the endpoint's response."""
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)


def reserved_segments(routes: list[Route]) -> set[str]:
    """The first path segments of the app's own routes (``""`` for ``/``): a file whose
    path starts with one is never served, as the route takes precedence."""
    return {route.path.lstrip("/").split("/", 1)[0] for route in routes[:-1]}


class FormBodyLimit:
    """Starlette's body limit (:data:`MAX_BODY_BYTES`) on every path but ``/api/``.

    The ingest API reads a larger body itself and refuses one too large in JSON: Starlette's
    limit would replace any answer to a request whose ``Content-Length`` is too large with
    its own plain-text 413.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limited = RequestBodyLimitMiddleware(app, max_body_size=MAX_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass ``/api/`` requests through; limit the others."""
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
        else:
            await self.limited(scope, receive, send)


def _metrics(config: WebConfig, doors: Doors) -> Endpoint:
    token = config.web.metrics_token
    secret = token.get_secret_value() if token is not None else None
    endpoint = metrics_endpoint(secret, config.schedules, config.site.timezone, config.sources)

    async def metrics(ctx: WebContext, request: Request) -> Response:
        if secret is None and not on_metrics_door(doors, request):
            raise HTTPException(404)  # the public listener, and no token: no such page
        return await endpoint(ctx, request)

    return metrics


def allowed_methods(routes: list[Route], scope: Scope) -> list[str]:
    """Every method some route accepts at this request's path (the ``Allow`` of a 405).

    Starlette's own 405 names only the first route whose path matched; ours has several
    routes per path (``GET /subscribe`` and ``POST /subscribe``).
    """
    methods: set[str] = set()
    for route in routes:
        match, _child = route.matches(scope)
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def _error_pages(
    ctx: WebContext, routes: list[Route]
) -> dict[int, Callable[[Request, Exception], Response]]:
    def not_found(request: Request, exc: Exception) -> Response:
        return message(ctx, "找不到页面", "找不到这个页面。", 404)

    def not_allowed(request: Request, exc: Exception) -> Response:
        allow = ", ".join(allowed_methods(routes, request.scope)) or "GET, HEAD"
        return message(
            ctx, "不支持的请求", "这个地址不接受这种请求。", 405, headers={"Allow": allow}
        )

    def too_large(request: Request, exc: Exception) -> Response:
        return message(ctx, "内容太大", "提交的内容太大。", 413)

    return {404: not_found, 405: not_allowed, 413: too_large}


def create_app(
    settings: Settings,
    store: Store,
    clock: Clock = system_clock,
    *,
    send: SendMail | None = None,
) -> Starlette:
    """Build the web app over ``store``.

    Args:
        settings: validated settings; ``[web] secret`` signs the links.
        store: an opened store (the subscribers and sections tables).
        clock: the time source (tests inject a fixed one).
        send: hands a confirmation mail to the transport; default
            :func:`pressroom.delivery.single.send_one` with ``settings.mail``.

    Raises:
        ConfigError: ``web.secret`` is not set.
    """
    if settings.web.secret is None:
        raise ConfigError(
            [
                "web.secret: must be set to sign subscribe and unsubscribe links "
                "(set PRESSROOM_WEB__SECRET or [web] secret; `pressroom init` generates one)"
            ]
        )
    config = web_config(settings)
    secret = settings.web.secret.get_secret_value()
    ctx = WebContext.build(config, store, clock, secret, send or _default_sender(config))
    doors = Doors()
    routes = _routes(ctx, doors)
    app = Starlette(
        routes=routes,
        # Files first: they carry their own headers. The body limit inside the security
        # headers: its 413 gets them too.
        middleware=[
            Middleware(MetricsListenerOnly, doors=doors),
            Middleware(
                FileServer,
                files=ctx.files,
                reserved=reserved_segments(routes),
                cache_seconds=cache_seconds(config),
                links_for=feed_links(config.feeds_url, config.hubs),
            ),
            Middleware(SecurityHeaders),
            Middleware(FormBodyLimit),
        ],
        exception_handlers=_error_pages(ctx, routes),
    )
    app.state.ctx = ctx
    app.state.doors = doors
    return app
