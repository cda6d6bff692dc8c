"""A small WebSub hub (W3C WebSub) and subscriber for tests, served by uvicorn on loopback.

The hub takes subscriptions (verifying the subscriber's intent with a challenge, section
5.3), records every publish ping (PubSubHubbub 0.4's form, which WebSub section 6 leaves
to the hub), fetches each published topic from the publisher and delivers its content to
the topic's subscribers (section 7, content distribution) with the ``Link`` headers the
spec asks for. ``rejecting`` URLs are answered 400 (a topic the hub does not take);
``failing=N`` answers the first N publish requests with a 503 (a hub in trouble). A static
file server stands in for the publisher's web server.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from livekit import LiveServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles


@dataclass
class Ping:
    """One publish request the hub received."""

    at: float
    urls: list[str]
    form: dict[str, list[str]]
    agent: str = ""


@dataclass
class Delivery:
    """Content the hub pushed to a subscriber."""

    at: float
    topic: str
    body: bytes
    content_type: str


@dataclass
class Hub:
    """The hub's and the subscriber's records (what tests assert on)."""

    failing: int = 0
    rejecting: frozenset[str] = frozenset()
    """Feed URLs the hub answers 400 for (a topic it does not take)."""
    pings: list[Ping] = field(default_factory=list)
    refused: int = 0
    fetched: list[tuple[str, int]] = field(default_factory=list)
    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @property
    def callback(self) -> str:
        """The test subscriber's callback URL."""
        return f"{self.url}callback"

    @property
    def hub_url(self) -> str:
        """The hub endpoint (subscribe and publish)."""
        return f"{self.url}hub"

    def published_urls(self) -> list[str]:
        """Every URL named in a publish ping so far."""
        with self.lock:
            return [url for ping in self.pings for url in ping.urls]

    def subscribe(self, topic: str) -> None:
        """Subscribe the test subscriber to ``topic`` (the hub verifies the intent)."""
        response = httpx.post(
            self.hub_url,
            data={"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": self.callback},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        assert self.callback in self.subscriptions.get(topic, set())


def hub_app(hub: Hub) -> Starlette:
    """The hub (``/hub``) and the subscriber (``/callback``) in one app."""

    async def hub_endpoint(request: Request) -> Response:
        form = await request.form()
        mode = form.get("hub.mode")
        if mode == "subscribe":
            return await _subscribe(hub, str(form["hub.topic"]), str(form["hub.callback"]))
        if mode != "publish":
            return PlainTextResponse("unknown hub.mode", status_code=400)
        urls = [str(u) for u in form.getlist("hub.url")]
        with hub.lock:
            if hub.failing > 0:
                hub.failing -= 1
                hub.refused += 1
                return PlainTextResponse("busy", status_code=503)
            if hub.rejecting & set(urls):
                hub.refused += 1
                return PlainTextResponse("unknown topic", status_code=400)
            agent = request.headers.get("user-agent", "")
            fields = {k: [str(v) for v in form.getlist(k)] for k in form}
            hub.pings.append(Ping(time.monotonic(), urls, fields, agent))
        threading.Thread(target=_distribute, args=(hub, urls), daemon=True).start()
        return Response(status_code=202)

    async def callback(request: Request) -> Response:
        if request.method == "GET":  # verification of intent: echo the challenge
            return PlainTextResponse(request.query_params["hub.challenge"])
        links = request.headers.get("link", "")
        topic = next(
            (p.split(";")[0].strip(" <>") for p in links.split(",") if 'rel="self"' in p), ""
        )
        body = await request.body()
        with hub.lock:
            hub.deliveries.append(
                Delivery(time.monotonic(), topic, body, request.headers.get("content-type", ""))
            )
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/hub", hub_endpoint, methods=["POST"]),
            Route("/callback", callback, methods=["GET", "POST"]),
        ]
    )


async def _subscribe(hub: Hub, topic: str, callback: str) -> Response:
    challenge = secrets.token_hex(8)
    params = {
        "hub.mode": "subscribe",
        "hub.topic": topic,
        "hub.challenge": challenge,
        "hub.lease_seconds": "3600",
    }
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(callback, params=params)
    if answer.status_code // 100 != 2 or answer.text != challenge:
        return PlainTextResponse("verification failed", status_code=409)
    with hub.lock:
        hub.subscriptions.setdefault(topic, set()).add(callback)
    return Response(status_code=202)


def _distribute(hub: Hub, urls: list[str]) -> None:
    """Fetch each published topic and push it to its subscribers (content distribution)."""
    for url in urls:
        try:
            fetched = httpx.get(url, timeout=10)
        except httpx.HTTPError:  # a topic the hub cannot reach: nothing to distribute
            with hub.lock:
                hub.fetched.append((url, 0))
            continue
        with hub.lock:
            hub.fetched.append((url, fetched.status_code))
            callbacks = sorted(hub.subscriptions.get(url, set()))
        for callback in callbacks:
            httpx.post(
                callback,
                content=fetched.content,
                headers={
                    "Content-Type": fetched.headers.get("content-type", "application/xml"),
                    "Link": f'<{hub.hub_url}>; rel="hub", <{url}>; rel="self"',
                },
                timeout=10,
            )


def static_server(folder: Path) -> LiveServer:
    """A plain web server over ``folder`` (the publisher's feed files)."""
    folder.mkdir(parents=True, exist_ok=True)
    return LiveServer(lambda _url: Starlette(routes=[Mount("/", StaticFiles(directory=folder))]))


def running_hub(
    failing: int = 0, rejecting: frozenset[str] = frozenset()
) -> tuple[Hub, LiveServer]:
    """A hub with its server (not started: use it as a context manager)."""
    hub = Hub(failing=failing, rejecting=rejecting)
    server = LiveServer(lambda _url: hub_app(hub))
    hub.url = server.url
    return hub, server


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> float:
    """Seconds until ``condition()`` held; raises AssertionError after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(step)
    return time.monotonic() - started
