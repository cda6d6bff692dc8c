"""WebSub publishing against a hub on loopback (the publish ping of PubSubHubbub 0.4, which
WebSub section 6 leaves to the hub; content distribution, WebSub section 7)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from feedkit import SECTION_PAGES, load_rows, make_config, row
from hubkit import running_hub, static_server, wait_until
from support import NOW

from pressroom import __version__
from pressroom.feeds import build_feeds
from pressroom.feeds.websub import (
    PingPolicy,
    announce,
    changed_feed_urls,
    publish,
    user_agent,
    wait_for_announcements,
)
from pressroom.store.engine import open_store
from pressroom.store.websub_pings import ping_totals

FEED_FILES = ("rss.xml", "atom.xml", "feed.json")


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/hub"


@pytest.mark.slow
def test_the_hub_is_told_of_each_changed_feed_and_fetches_the_two_it_serves(
    tmp_path: Path,
) -> None:
    hub, hub_server = running_hub()
    out = tmp_path / "public"
    with hub_server, static_server(out) as site:
        config = make_config(
            tmp_path, extra=SECTION_PAGES, public_url=site.url, websub_hub=hub.hub_url
        )
        topics = [f"{site.url}tiyu/rss.xml", f"{site.url}all/atom.xml"]
        for topic in topics:
            hub.subscribe(topic)
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            load_rows(store, [row(1, "tiyu"), row(2, "shehui")])
            report = build_feeds(config, store, now=NOW)
            feeds = [p for p in report.written if p.rsplit("/", 1)[-1] in FEED_FILES]
            wait_until(lambda: len(hub.published_urls()) == len(feeds), 10)
            assert sorted(hub.published_urls()) == sorted(f"{site.url}{p}" for p in feeds)
            assert all(p.form["hub.mode"] == ["publish"] for p in hub.pings)
            assert all(len(p.urls) == 1 for p in hub.pings)  # one topic per request
            # the hub fetched what it was told of, and pushed the two subscribed feeds
            wait_until(lambda: {d.topic for d in hub.deliveries} == set(topics), 10)
            assert {status for _url, status in hub.fetched} == {200}
            for delivery in hub.deliveries:
                path = out / delivery.topic.removeprefix(site.url)
                assert delivery.body == path.read_bytes()

            # nothing changed: nothing is written, nobody is told
            pings = len(hub.pings)
            assert build_feeds(config, store, now=NOW).written == []
            time.sleep(0.5)
            assert len(hub.pings) == pings

            # a new 体育 article: only the feeds holding it are announced
            load_rows(store, [row(0, "tiyu", title="新的体育新闻")])
            report = build_feeds(config, store, now=NOW)
            expected = {
                f"{site.url}{folder}/{file}" for folder in ("all", "tiyu") for file in FEED_FILES
            }
            wait_until(lambda: len(hub.pings) == pings + len(expected), 10)
            assert set(hub.published_urls()[pings:]) == expected
            wait_until(
                lambda: sum("新的体育新闻".encode() in d.body for d in hub.deliveries) == 2, 10
            )
            # both builds' pings are counted in the store for /metrics, all accepted
            announced = len(feeds) + len(expected)

            def counted() -> tuple[int, int] | None:
                with store.read() as conn:
                    return ping_totals(conn).get(hub.hub_url)

            wait_until(lambda: counted() == (announced, 0), 10)
        finally:
            store.dispose()


def test_a_hub_answering_503_is_asked_again_with_backoff() -> None:
    hub, server = running_hub(failing=2)
    with server:
        started = time.monotonic()
        [outcome] = publish(
            [hub.hub_url], ["https://feeds.example.cn/all/rss.xml"], PingPolicy(backoff=0.1)
        )
        elapsed = time.monotonic() - started
    assert outcome.ok and hub.refused == 2
    assert hub.published_urls() == ["https://feeds.example.cn/all/rss.xml"]
    assert elapsed >= 0.1 + 0.2  # waited before each retry, doubling


@pytest.mark.slow
def test_a_hub_that_is_down_or_failing_never_fails_or_delays_the_build(tmp_path: Path) -> None:
    always_failing, server = running_hub(failing=10_000)
    with server:
        down = _closed_port_url()
        config = make_config(tmp_path, websub_hub=[down, always_failing.hub_url])
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            load_rows(store, [row(1, "tiyu")])
            started = time.monotonic()
            report = build_feeds(config, store, now=NOW)
            took = time.monotonic() - started
            pinging = [t for t in threading.enumerate() if t.name == "pressroom-websub"]
        finally:
            store.dispose()
        assert report.ok and report.written
        # the pings (retrying with backoff: 0.5 + 1 + 2 s per hub) run after the build
        assert took < 1.5 and pinging
        for thread in pinging:
            thread.join(PingPolicy().deadline * 2 + 5)
            assert not thread.is_alive()
        # retries are bounded, and a hub that stays down is not asked about every feed
        assert always_failing.refused == PingPolicy().retries + 1
        # each hub's outcome is kept in the store for /metrics: every URL given up on
        announced = len(changed_feed_urls(config.public_url, report.written))
        reopened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        with reopened.read() as conn:
            totals = ping_totals(conn)
        reopened.dispose()
        assert totals == {down: (0, announced), always_failing.hub_url: (0, announced)}


FEED_URLS = [f"https://feeds.example.cn/{name}/rss.xml" for name in ("all", "tiyu", "shehui")]


def test_each_ping_names_the_feed_as_url_and_topic_with_our_user_agent() -> None:
    hub, server = running_hub()
    with server:
        [outcome] = publish([hub.hub_url], FEED_URLS, agent=user_agent("https://news.example.cn/"))
    assert outcome.ok and outcome.published == tuple(FEED_URLS)
    assert [p.form for p in hub.pings] == [
        {"hub.mode": ["publish"], "hub.url": [url], "hub.topic": [url]} for url in FEED_URLS
    ]
    assert {p.agent for p in hub.pings} == {f"pressroom/{__version__} (+https://news.example.cn/)"}


def test_a_rejected_url_does_not_stop_the_others() -> None:
    hub, server = running_hub(rejecting=frozenset([FEED_URLS[0]]))
    with server:
        [outcome] = publish([hub.hub_url], FEED_URLS, PingPolicy(backoff=0.01))
    assert outcome.failed == (FEED_URLS[0],) and outcome.error == "HTTP 400"
    assert outcome.published == tuple(FEED_URLS[1:])
    assert hub.published_urls() == FEED_URLS[1:] and hub.refused == 1  # not asked again


def test_a_hub_that_reads_several_urls_gets_them_in_batches() -> None:
    hub, server = running_hub()
    with server:
        [outcome] = publish([hub.hub_url], FEED_URLS, PingPolicy(batch=2))
    assert outcome.ok
    assert [p.form["hub.topic"] for p in hub.pings] == [FEED_URLS[:2], FEED_URLS[2:]]
    assert [p.urls for p in hub.pings] == [FEED_URLS[:2], FEED_URLS[2:]]


def test_pings_started_from_a_daemon_thread_are_not_daemons_and_can_be_awaited() -> None:
    hubs = [running_hub(), running_hub()]
    with hubs[0][1], hubs[1][1]:
        started: list[object] = []

        def job_runner() -> None:  # the worker's job runner thread is a daemon
            started.append(announce([h.hub_url for h, _ in hubs], FEED_URLS[:1]))

        runner = threading.Thread(target=job_runner, daemon=True)
        runner.start()
        runner.join(10)
        pinging = [t for t in threading.enumerate() if t.name == "pressroom-websub"]
        assert pinging and not any(t.daemon for t in pinging)
        outcomes = wait_for_announcements(PingPolicy().deadline)
    assert sorted(o.hub for o in outcomes) == sorted(h.hub_url for h, _ in hubs)
    assert all(o.ok for o in outcomes)
    assert wait_for_announcements(1) == []  # each announcement is awaited once


def test_waiting_names_a_hub_that_has_not_answered_yet() -> None:
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hub = f"http://127.0.0.1:{silent.getsockname()[1]}/hub"
        policy = PingPolicy(timeout=1, retries=0, deadline=1)
        announcement = announce([hub], FEED_URLS[:2], policy)
        [early] = announcement.wait(0.2)
        assert early.hub == hub and early.failed == tuple(FEED_URLS[:2])
        assert early.error == "no answer within 0 s"
        [late] = announcement.wait(10)  # the hub's own deadline ends it
    assert late.failed == tuple(FEED_URLS[:2]) and "Timeout" in (late.error or "")
    wait_for_announcements(0)  # forget it


def test_bounded_retries_and_what_publish_reports() -> None:
    policy = PingPolicy(timeout=1, retries=2, backoff=0.05, deadline=5)
    urls = ["https://feeds.example.cn/all/rss.xml", "https://feeds.example.cn/all/atom.xml"]
    [outcome] = publish([_closed_port_url()], urls, policy)
    assert not outcome.ok and outcome.published == ()
    assert outcome.failed == tuple(urls) and "Connect" in (outcome.error or "")


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (
            ["tiyu/rss.xml", "index.html", "feeds.opml", "all/feed.json"],
            ["tiyu/rss.xml", "all/feed.json"],
        ),
        ([], []),
    ],
)
def test_only_feed_files_are_announced(paths: list[str], expected: list[str]) -> None:
    base = "https://feeds.example.cn/"
    assert changed_feed_urls(base, paths) == [base + p for p in expected]


def test_one_log_line_and_counts_per_hub(caplog: pytest.LogCaptureFixture) -> None:
    import json

    from pressroom.feeds.websub import HubOutcome
    from pressroom.worker.logs import JsonFormatter

    hub, server = running_hub()
    down = _closed_port_url()
    urls = ["https://feeds.example.cn/all/rss.xml", "https://feeds.example.cn/all/atom.xml"]
    recorded: list[HubOutcome] = []  # what record_outcome would add to websub_pings
    with server, caplog.at_level("INFO", logger="pressroom.feeds.websub"):
        publish([hub.hub_url, down], urls, PingPolicy(retries=1, backoff=0.05),
                record=recorded.append)  # fmt: skip
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    assert [(line["event"], line["hub"], line["published"], line["failed"]) for line in lines] == [
        ("websub_publish", hub.hub_url, 2, 0),
        ("websub_publish", down, 0, 2),
    ]
    assert lines[1]["level"] == "warning" and "ConnectError" in lines[1]["error"]
    counts = {(o.hub, "ok"): len(o.published) for o in recorded}
    counts |= {(o.hub, "failed"): len(o.failed) for o in recorded}
    assert counts[(hub.hub_url, "ok")] == 2
    assert counts[(down, "failed")] == 2


def test_websub_batch_puts_several_changed_feeds_in_one_request(tmp_path: Path) -> None:
    hub, server = running_hub()
    with server:
        config = make_config(tmp_path, websub_hub=hub.hub_url, websub_batch=3)
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            load_rows(store, [row(1, "tiyu")])
            report = build_feeds(config, store, now=NOW)
            wait_for_announcements(PingPolicy().deadline)
        finally:
            store.dispose()
    announced = changed_feed_urls(config.public_url, report.written)
    assert len(announced) == 6 and hub.published_urls() == announced
    assert [len(p.urls) for p in hub.pings] == [3, 3]
    assert all(p.form["hub.topic"] == p.urls for p in hub.pings)
