"""flask-websub (a WebSub hub and subscriber from PyPI, nobody of this project wrote it) on
loopback, for interoperability tests beside the project's own hub kit.

flask-websub runs its work as celery tasks; :class:`ThreadTasks` stands in for celery:
each ``.delay()`` runs the task in a thread of its own, as a celery worker would, retries
a task that asks for it (``self.retry``) a few times quickly, and keeps every error a
task raised (the hub refusing a topic, say) for the test to read. The hub's Flask app
and the subscriber's each run in werkzeug's threaded server on 127.0.0.1, port 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask_websub.hub import Hub, SQLite3HubStorage
from flask_websub.subscriber import (
    SQLite3SubscriberStorage,
    SQLite3TempSubscriberStorage,
    Subscriber,
    discover,
)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["FlaskHub", "Received", "ThreadTasks", "running_flask_hub"]


class _Retry(Exception):
    """What a bound task's ``self.retry()`` raises (celery's ``Retry``)."""


@dataclass
class _TaskRequest:
    retries: int = 0


class _BoundTask:
    """The ``self`` a ``bind=True`` task gets: its retry count and ``retry()``."""

    def __init__(self, retries: int) -> None:
        self.request = _TaskRequest(retries)

    def retry(self, countdown: float = 0.0, **_options: Any) -> None:
        raise _Retry(countdown)


class _Task:
    def __init__(self, tasks: ThreadTasks, fn: Callable[..., Any], bind: bool, retries: int):
        self.tasks, self.fn, self.bind, self.max_retries = tasks, fn, bind, retries

    def delay(self, *args: Any, **kwargs: Any) -> None:
        thread = threading.Thread(target=self._run, args=(args, kwargs), daemon=True)
        thread.start()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for attempt in range(self.max_retries + 1):
            try:
                if self.bind:
                    self.fn(_BoundTask(attempt), *args, **kwargs)
                else:
                    self.fn(*args, **kwargs)
                return
            except _Retry:
                time.sleep(0.1)
            except Exception as exc:  # a celery worker logs it; the test reads it
                with self.tasks.lock:
                    self.tasks.errors.append(exc)
                return


@dataclass
class ThreadTasks:
    """A stand-in for the celery app flask-websub's hub wants (``task``, periodic tasks)."""

    retries: int = 3
    errors: list[Exception] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def task(
        self, bind: bool = False, max_retries: int | None = None, **_options: Any
    ) -> Callable[[Callable[..., Any]], _Task]:
        """celery's ``app.task(...)``: a decorator making ``fn`` a task with ``delay``."""
        retries = 0 if max_retries is None else min(max_retries, self.retries)
        return lambda fn: _Task(self, fn, bind, retries)

    def add_periodic_task(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@dataclass
class Received:
    """One content notification the subscriber got from the hub."""

    topic: str
    body: bytes
    at: float


@dataclass
class FlaskHub:
    """The hub, the subscriber, and what they saw."""

    hub_url: str
    subscriber_app: Flask
    subscriber: Subscriber
    tasks: ThreadTasks
    received: list[Received] = field(default_factory=list)
    confirmed: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, feed_url: str, timeout: float = 10.0) -> str:
        """Subscribe to ``feed_url`` as a WebSub subscriber does: discover its hub and
        self URL from the feed's ``Link`` headers, ask the hub, wait for the hub to
        verify the intent. Returns the topic (the feed's self URL)."""
        with self.subscriber_app.app_context():
            found = discover(feed_url)
            assert found["hub_url"] == self.hub_url, found
            self.subscriber.subscribe(**found)
        topic = str(found["topic_url"])
        deadline = time.monotonic() + timeout
        while topic not in self.confirmed:
            if time.monotonic() > deadline:
                raise AssertionError(f"the hub did not confirm {topic}: {self.tasks.errors}")
            time.sleep(0.02)
        return topic

    def bodies(self, topic: str) -> list[bytes]:
        """The content the hub pushed for ``topic`` so far."""
        with self.lock:
            return [r.body for r in self.received if r.topic == topic]


class _Quiet(WSGIRequestHandler):
    def log(self, *_args: Any) -> None:  # werkzeug logs every request otherwise
        return None


def _serve(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def running_flask_hub(folder: Path) -> Iterator[FlaskHub]:
    """flask-websub's hub (publishing allowed) and a subscriber, on loopback."""
    tasks = ThreadTasks()
    hub_app = Flask("pressroom-test-hub")
    hub_app.config["PUBLISH_SUPPORTED"] = True  # hub.mode=publish, as pressroom pings
    hub = Hub(SQLite3HubStorage(str(folder / "hub.db")), tasks, REQUEST_TIMEOUT=5)
    hub_app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))
    hub_server, hub_thread = _serve(hub_app)

    subscriber = Subscriber(
        SQLite3SubscriberStorage(str(folder / "subscriber.db")),
        SQLite3TempSubscriberStorage(str(folder / "subscriber-temp.db")),
        REQUEST_TIMEOUT=5,
    )
    sub_app = Flask("pressroom-test-subscriber")
    sub_app.register_blueprint(subscriber.build_blueprint(url_prefix="/callbacks"))
    sub_server, sub_thread = _serve(sub_app)
    sub_app.config["SERVER_NAME"] = f"127.0.0.1:{sub_server.server_port}"
    state = FlaskHub(f"http://127.0.0.1:{hub_server.server_port}/hub", sub_app, subscriber, tasks)

    def listener(topic: str, _callback_id: str, body: bytes) -> None:
        with state.lock:
            state.received.append(Received(topic, body, time.monotonic()))

    def confirmed(topic: str, _callback_id: str, mode: str) -> None:
        if mode == "subscribe":
            with state.lock:
                state.confirmed.add(topic)

    subscriber.add_listener(listener)
    subscriber.add_success_handler(confirmed)
    try:
        yield state
    finally:
        for server, thread in ((hub_server, hub_thread), (sub_server, sub_thread)):
            server.shutdown()
            thread.join(10)
