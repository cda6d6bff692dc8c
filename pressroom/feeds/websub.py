"""WebSub publishing (W3C WebSub, section 7): tell each hub which feeds changed.

After a build that wrote feed files (:func:`announce_changes`, the last step of
:func:`pressroom.feeds.build_feeds`), each configured hub gets one ``POST`` per changed
feed URL, form-encoded ``hub.mode=publish`` and ``hub.url=<feed URL>``; the hub then
fetches the feed and pushes it to its subscribers. A hub that is slow or down never
delays or fails a build: the pings run in a thread of their own after the build, each
request has a timeout, errors and 5xx answers are retried with a doubling backoff, and
each hub has an overall deadline. A hub that could not be reached for one URL after its
retries is not asked about the others of that build (it is down). One log line per hub
and build; :func:`record_outcome` adds each hub's outcome to the store's ``websub_pings``,
which ``/metrics`` reads whichever process built.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import httpx

from pressroom.errors import StoreError
from pressroom.feeds.feed_config import FeedConfig
from pressroom.feeds.formats import feed_file_names
from pressroom.feeds.report import FeedBuildReport
from pressroom.store.engine import Store
from pressroom.store.websub_pings import add_pings

__all__ = [
    "HubOutcome",
    "PingPolicy",
    "announce",
    "announce_changes",
    "changed_feed_urls",
    "publish",
    "record_outcome",
]

log = logging.getLogger("pressroom.feeds.websub")


@dataclass(frozen=True)
class PingPolicy:
    """How hard to try: per-request timeout, retries after the first try, first backoff
    (doubled after each retry), and each hub's deadline for one build's pings (seconds)."""

    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    deadline: float = 30.0


@dataclass(frozen=True)
class HubOutcome:
    """What one hub answered for one build: the URLs it accepted and those it did not."""

    hub: str
    published: tuple[str, ...]
    failed: tuple[str, ...]
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the hub accepted every URL."""
        return not self.failed


def changed_feed_urls(public_url: str, paths: Iterable[str]) -> list[str]:
    """The public URLs of the feed files among ``paths`` (``tiyu/rss.xml``), in order.

    The OPML file and the index page are not feeds: no hub is told about them.
    """
    feed_files = feed_file_names()
    return [f"{public_url}{path}" for path in paths if path.rsplit("/", 1)[-1] in feed_files]


def announce_changes(config: FeedConfig, store: Store, report: FeedBuildReport) -> None:
    """:func:`announce` the feeds a build wrote to the ``[feeds] websub_hub`` hubs.

    The last step of :func:`pressroom.feeds.build_feeds`. The pings run in a thread
    started after the build: the build's report comes back at once.
    """
    urls = changed_feed_urls(config.public_url, report.written)
    if urls and config.feeds.hubs:
        announce(config.feeds.hubs, urls, record=partial(record_outcome, store))


def record_outcome(store: Store, outcome: HubOutcome) -> None:
    """Add a hub's outcome to ``websub_pings`` (what ``/metrics`` reports); never raises:
    a store that cannot take it costs the metric, not the pings or the build."""
    try:
        with store.write() as conn:
            add_pings(
                conn,
                outcome.hub,
                ok=len(outcome.published),
                failed=len(outcome.failed),
                now=datetime.now(UTC),
            )
    except StoreError as exc:
        log.warning("cannot record the pings to %s: %s", outcome.hub, exc)


def announce(
    hubs: Sequence[str],
    urls: Sequence[str],
    policy: PingPolicy | None = None,
    *,
    record: Callable[[HubOutcome], None] | None = None,
) -> threading.Thread:
    """:func:`publish` in a thread of its own; returns the thread (already started).

    Not a daemon thread: a process that exits right after a build (``pressroom feeds
    build``, ``run --once``) still sends its pings, within the policy's deadline.
    ``record`` is called with each hub's outcome (:func:`record_outcome` keeps it).
    """
    thread = threading.Thread(
        target=publish,
        args=(tuple(hubs), tuple(urls), policy),
        kwargs={"record": record},
        name="pressroom-websub",
    )
    thread.start()
    return thread


def publish(
    hubs: Sequence[str],
    urls: Sequence[str],
    policy: PingPolicy | None = None,
    *,
    client: httpx.Client | None = None,
    record: Callable[[HubOutcome], None] | None = None,
) -> list[HubOutcome]:
    """POST ``hub.mode=publish`` for each URL of ``urls`` to each hub; never raises.

    Hubs are told one after the other, each within ``policy.deadline``; ``record`` gets
    each hub's outcome as soon as it is known.
    """
    policy = policy or PingPolicy()
    own = client is None
    http = client or httpx.Client(timeout=policy.timeout, follow_redirects=False)
    try:
        outcomes = []
        for hub in hubs:
            outcome = _publish_to(http, hub, urls, policy)
            if record is not None:
                record(outcome)
            outcomes.append(outcome)
        return outcomes
    finally:
        if own:
            http.close()


def _publish_to(
    http: httpx.Client, hub: str, urls: Sequence[str], policy: PingPolicy
) -> HubOutcome:
    started = time.monotonic()
    deadline = started + policy.deadline
    published: list[str] = []
    error: str | None = None
    for url in urls:
        error = _ping(http, hub, url, policy, deadline)
        if error is not None:
            break
        published.append(url)
    failed = tuple(urls[len(published) :])
    outcome = HubOutcome(hub, tuple(published), failed, error, time.monotonic() - started)
    _log(outcome)
    return outcome


def _ping(
    http: httpx.Client, hub: str, url: str, policy: PingPolicy, deadline: float
) -> str | None:
    """One URL to one hub, retried; None when the hub accepted it, else why not."""
    wait = policy.backoff
    for attempt in range(policy.retries + 1):
        timeout = min(policy.timeout, max(deadline - time.monotonic(), 0.1))
        error, again = _post(http, hub, url, timeout)
        if error is None or not again:
            return error
        if attempt == policy.retries or time.monotonic() + wait >= deadline:
            return error
        time.sleep(wait)
        wait *= 2
    return error  # pragma: no cover - the loop always returns


def _post(http: httpx.Client, hub: str, url: str, timeout: float) -> tuple[str | None, bool]:
    """One request: (None, _) when accepted, else (why not, whether to try again)."""
    try:
        response = http.post(hub, data={"hub.mode": "publish", "hub.url": url}, timeout=timeout)
    except httpx.HTTPError as exc:
        return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__), True
    if response.is_success:
        return None, False
    # a 4xx says the request is wrong (unknown topic, not a hub): asking again will not help
    return f"HTTP {response.status_code}", not response.is_client_error


def _log(outcome: HubOutcome) -> None:
    extra = {
        "websub": {
            "hub": outcome.hub,
            "published": len(outcome.published),
            "failed": len(outcome.failed),
            "error": outcome.error,
            "seconds": round(outcome.seconds, 3),
        }
    }
    if outcome.ok:
        log.info(
            "websub: %s told of %d changed feed(s) in %.2fs",
            outcome.hub,
            len(outcome.published),
            outcome.seconds,
            extra=extra,
        )
    else:
        log.warning(
            "websub: %s not told of %d changed feed(s) (%s); %d told; readers of the hub "
            "get them when it next polls",
            outcome.hub,
            len(outcome.failed),
            outcome.error,
            len(outcome.published),
            extra=extra,
        )
