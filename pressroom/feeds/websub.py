"""WebSub publishing: tell each hub which feeds changed, so it pushes them to subscribers.

WebSub (W3C Recommendation, 2018) leaves how a publisher tells its hub to the hub (section
6, "Publishing"); hubs take the PubSubHubbub 0.4 form (section 7 there): a form-encoded
``POST`` with ``hub.mode=publish`` and the feed's URL. pressroom sends it as ``hub.url``
*and* ``hub.topic`` (hubs differ in which they read; flask-websub, for one, needs
``hub.topic``), the URL byte-identical to the feed's own ``rel="self"`` link and to the
``Link`` header the web app sends with it (WebSub section 4: a hub distributes a topic
only when its response names the hub and itself). ``[feeds] websub_batch`` URLs go in
one request for hubs that read several (Google's hub does); the default is one per
request, which every hub reads.

After a build that wrote feed files (:func:`announce_changes`, the last step of
:func:`pressroom.feeds.build_feeds`), each configured hub is told in a thread of its own
(not a daemon: a process that exits right after a build, such as ``pressroom feeds build``,
sends its pings first, and :func:`wait_for_announcements` lets it wait and say how they
went). A hub that is slow or down never delays or fails a build: each request has a
timeout, errors and 5xx answers are retried with a doubling backoff, and each hub has an
overall deadline. A hub that rejects a URL (4xx) is still told of the others; a hub that
could not be reached after the retries is not asked about the rest of that build (it is
down). One log line per hub and build; :func:`record_outcome` adds each hub's outcome to
the store's ``websub_pings``, which ``/metrics`` reads whichever process built.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import httpx

from pressroom import __version__
from pressroom.errors import StoreError
from pressroom.feeds.feed_config import FeedConfig
from pressroom.feeds.formats import feed_file_names
from pressroom.feeds.report import FeedBuildReport
from pressroom.store.engine import Store
from pressroom.store.websub_pings import add_pings

__all__ = [
    "Announcement",
    "HubOutcome",
    "PingPolicy",
    "announce",
    "announce_changes",
    "changed_feed_urls",
    "publish",
    "record_outcome",
    "user_agent",
    "wait_for_announcements",
]

log = logging.getLogger("pressroom.feeds.websub")


@dataclass(frozen=True)
class PingPolicy:
    """How hard to try: per-request timeout, retries after the first try, first backoff
    (doubled after each retry), each hub's deadline for one build's pings (seconds), and
    the feed URLs per request."""

    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    deadline: float = 30.0
    batch: int = 1


@dataclass(frozen=True)
class HubOutcome:
    """What one hub answered for one build: the URLs it accepted and those it did not
    (``error``: why, for the last that failed)."""

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

    The last step of :func:`pressroom.feeds.build_feeds`. The pings run in threads
    started after the build (one per hub, not daemons): the build's report comes back at
    once; a command that exits next waits for them (:func:`wait_for_announcements`).
    """
    urls = changed_feed_urls(config.public_url, report.written)
    if urls and config.feeds.hubs:
        announce(
            config.feeds.hubs,
            urls,
            PingPolicy(batch=config.feeds.websub_batch),
            record=partial(record_outcome, store),
            agent=user_agent(config.site.base_url),
        )


def user_agent(base_url: str | None = None) -> str:
    """``pressroom/<version> (+<site base_url>)``: who pings, and for which site."""
    return f"pressroom/{__version__}" + (f" (+{base_url})" if base_url else "")


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


@dataclass
class Announcement:
    """One build's pings in flight: a thread per hub, and each hub's outcome once known."""

    hubs: tuple[str, ...]
    urls: tuple[str, ...]
    threads: list[threading.Thread] = field(default_factory=list)
    outcomes: list[HubOutcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, timeout: float | None = None) -> list[HubOutcome]:
        """Wait up to ``timeout`` seconds for every hub; each hub's outcome, in the hubs'
        order (a hub still busy by then: every URL failed, "no answer within N s")."""
        started = time.monotonic()
        for thread in self.threads:
            left = None if timeout is None else max(started + timeout - time.monotonic(), 0.0)
            thread.join(left)
        with self.lock:
            known = {outcome.hub: outcome for outcome in self.outcomes}
        waited = time.monotonic() - started
        silent = f"no answer within {waited:.0f} s"
        return [
            known.get(hub) or HubOutcome(hub, (), self.urls, silent, waited) for hub in self.hubs
        ]

    @property
    def done(self) -> bool:
        """True when every hub has answered or given up."""
        return not any(thread.is_alive() for thread in self.threads)


_in_flight: list[Announcement] = []
_in_flight_lock = threading.Lock()


def announce(
    hubs: Sequence[str],
    urls: Sequence[str],
    policy: PingPolicy | None = None,
    *,
    record: Callable[[HubOutcome], None] | None = None,
    agent: str | None = None,
) -> Announcement:
    """:func:`publish` to each hub in a thread of its own (all started); returns them.

    The threads are not daemons, whatever thread calls this (a thread's default is its
    creator's, and the worker's job runner is a daemon): a process that exits right after
    a build still sends its pings, each hub within the policy's deadline.
    ``record`` is called with each hub's outcome (:func:`record_outcome` keeps it);
    ``agent`` is the User-Agent (:func:`user_agent`).
    """
    announcement = Announcement(tuple(hubs), tuple(urls))

    def tell(hub: str) -> None:
        outcomes = publish([hub], urls, policy, record=record, agent=agent)
        with announcement.lock:
            announcement.outcomes.extend(outcomes)

    for hub in hubs:
        thread = threading.Thread(target=tell, args=(hub,), name="pressroom-websub", daemon=False)
        announcement.threads.append(thread)
    with _in_flight_lock:
        _in_flight[:] = [a for a in _in_flight if not a.done]
        _in_flight.append(announcement)
    for thread in announcement.threads:
        thread.start()
    return announcement


def wait_for_announcements(timeout: float) -> list[HubOutcome]:
    """Wait up to ``timeout`` seconds for this process's pings in flight; every outcome
    known by then (a command calls it before it exits, to say how the hubs answered)."""
    with _in_flight_lock:
        pending = list(_in_flight)
        _in_flight.clear()
    deadline = time.monotonic() + timeout
    outcomes: list[HubOutcome] = []
    for announcement in pending:
        outcomes += announcement.wait(max(deadline - time.monotonic(), 0.0))
    return outcomes


def publish(
    hubs: Sequence[str],
    urls: Sequence[str],
    policy: PingPolicy | None = None,
    *,
    client: httpx.Client | None = None,
    record: Callable[[HubOutcome], None] | None = None,
    agent: str | None = None,
) -> list[HubOutcome]:
    """POST ``hub.mode=publish`` for each URL of ``urls`` to each hub; never raises.

    Hubs are told one after the other, each within ``policy.deadline``; ``record`` gets
    each hub's outcome as soon as it is known.
    """
    policy = policy or PingPolicy()
    own = client is None
    http = client or httpx.Client(
        timeout=policy.timeout,
        follow_redirects=False,
        headers={"User-Agent": agent or user_agent()},
    )
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
    failed: list[str] = []
    error: str | None = None
    down = False
    size = max(policy.batch, 1)
    for batch in (urls[i : i + size] for i in range(0, len(urls), size)):
        if down:
            failed += batch  # not reachable for the last batch: it is down
            continue
        why, down = _ping(http, hub, batch, policy, deadline)
        if why is None:
            published += batch
        else:
            failed += batch
            error = why
    outcome = HubOutcome(hub, tuple(published), tuple(failed), error, time.monotonic() - started)
    _log(outcome)
    return outcome


def _ping(
    http: httpx.Client, hub: str, urls: Sequence[str], policy: PingPolicy, deadline: float
) -> tuple[str | None, bool]:
    """One batch to one hub, retried: (None, False) when the hub accepted it, else (why
    not, whether the hub is unreachable rather than refusing these URLs)."""
    wait = policy.backoff
    for attempt in range(policy.retries + 1):
        timeout = min(policy.timeout, max(deadline - time.monotonic(), 0.1))
        error, again = _post(http, hub, urls, timeout)
        if error is None or not again:
            return error, False
        if attempt == policy.retries or time.monotonic() + wait >= deadline:
            return error, True
        time.sleep(wait)
        wait *= 2
    return error, True  # pragma: no cover - the loop always returns


def _post(
    http: httpx.Client, hub: str, urls: Sequence[str], timeout: float
) -> tuple[str | None, bool]:
    """One request: (None, _) when accepted, else (why not, whether to try again)."""
    form = {"hub.mode": "publish", "hub.url": list(urls), "hub.topic": list(urls)}
    try:
        response = http.post(hub, data=form, timeout=timeout)
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
