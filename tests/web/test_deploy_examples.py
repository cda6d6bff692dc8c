"""The shipped deployment: ``examples/nginx/pressroom.conf`` in a real nginx in front of a
real ``pressroom serve`` on the demo site, and ``examples/systemd/`` through
``systemd-analyze verify``."""

from __future__ import annotations

import configparser
import gzip
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from daemonkit import free_port
from nginxkit import NGINX, Nginx, site_config
from servekit import ServeProcess, make_demo
from webkit import mail_link, wait_for_mail

from pressroom.web.server import STOP_SECONDS
from pressroom.worker.scheduler import STOP_TIMEOUT

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HUB = "http://127.0.0.1:9/hub"  # nothing listens: the demo's pings fail fast
FEEDS = ["/all/rss.xml", "/all/atom.xml", "/all/feed.json"]
CLIENT_ADDRESS = "127.0.0.5"
"""Readers connect to nginx from here; nginx connects to the app from 127.0.0.1."""


@dataclass
class Site:
    directory: Path
    public_url: str
    nginx: Nginx
    app: ServeProcess


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(NGINX).exists():
        pytest.skip("needs nginx (Debian nginx-light)")
    base = tmp_path_factory.mktemp("deploy")
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/"
    env = {"PRESSROOM_WEB__PUBLIC_URL": public_url, "PRESSROOM_FEEDS__WEBSUB_HUB": HUB}
    config = make_demo(base / "site", public_url, **env)
    with ServeProcess(config, env=env) as app:
        conf = site_config(
            port=port,
            upstream_port=app.port,
            root=base / "site" / "public",
            public_url=public_url,
            hub=HUB,
        )
        nginx = Nginx(base / "nginx", conf, port)
        checked = nginx.check()
        assert checked.returncode == 0, checked.stderr
        with nginx:
            yield Site(base / "site", public_url, nginx, app)


@pytest.fixture
def reader(site: Site) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(base_url=site.nginx.url, transport=transport, timeout=10) as client:
        yield client


def self_link_in(path: str, body: bytes) -> str:
    """The feed's own self link (RSS atom:link, Atom link, JSON Feed feed_url)."""
    if path.endswith(".json"):
        return str(json.loads(body)["feed_url"])
    root = ElementTree.fromstring(body)
    for link in root.iter():
        if link.tag.endswith("}link") and link.get("rel") == "self":
            return str(link.get("href"))
    raise AssertionError(f"{path} has no self link")


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/all/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/all/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/all/feed.json", "application/feed+json"),
        ("/feeds.opml", "text/x-opml"),
    ],
)
def test_nginx_serves_the_files_with_pressrooms_types(
    site: Site, reader: httpx.Client, path: str, content_type: str
) -> None:
    direct = httpx.get(site.app.url.rstrip("/") + path, timeout=10)
    proxied = reader.get(path)
    assert proxied.status_code == direct.status_code == 200
    assert proxied.headers["content-type"] == direct.headers["content-type"] == content_type
    assert proxied.content == direct.content == (site.directory / "public" / path[1:]).read_bytes()
    assert proxied.headers["x-content-type-options"] == "nosniff"
    assert proxied.headers["access-control-allow-origin"] == "*"
    assert "content-security-policy" not in proxied.headers


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.parametrize("path", FEEDS)
def test_nginx_answers_304_and_gzip_with_the_websub_links(
    site: Site, reader: httpx.Client, path: str
) -> None:
    first = reader.get(path)
    self_url = site.public_url + path[1:]
    expected = [f'<{HUB}>; rel="hub"', f'<{self_url}>; rel="self"']
    assert first.headers.get_list("link") == expected
    assert self_link_in(path, first.content) == self_url  # byte-identical
    direct = httpx.get(site.app.url.rstrip("/") + path, timeout=10)  # pressroom serve itself
    assert direct.headers.get_list("link") == expected
    revalidated = httpx.get(
        site.app.url.rstrip("/") + path, headers={"If-None-Match": direct.headers["etag"]}
    )
    assert revalidated.status_code == 304 and revalidated.headers.get_list("link") == expected
    again = reader.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers.get_list("link") == expected
    since = reader.get(path, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    with reader.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as packed:
        wire = b"".join(packed.iter_raw())
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.headers.get_list("link") == expected
    # gzip_static: the builder's .gz sibling as it is (on the fly, nginx's ETag is weak)
    assert wire == (site.directory / "public" / f"{path[1:]}.gz").read_bytes()
    assert not packed.headers["etag"].startswith("W/")
    assert gzip.decompress(wire) == first.content


@pytest.mark.slow
@pytest.mark.external
def test_the_index_and_the_subscribe_flow_go_through_the_proxy(
    site: Site, reader: httpx.Client
) -> None:
    index = reader.get("/")
    assert index.status_code == 200 and 'id="pr-subscribe"' in index.text
    assert len(index.headers.get_list("content-security-policy")) == 1  # the app's, once
    assert "link" not in index.headers
    outbox = site.directory / "outbox"
    before = len(list(outbox.glob("*.eml")))
    sent = reader.post(
        "/subscribe",
        data={"email": "proxy-reader@example.com", "frequency": "daily"},
        # a client's own X-Forwarded-For must not be believed
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert sent.status_code == 200 and "请查收邮件" in sent.text
    newest = max(wait_for_mail(outbox, before + 1), key=lambda p: p.stat().st_mtime_ns)
    link = mail_link(newest.read_bytes())
    assert link.startswith(site.public_url + "confirm/")
    page = reader.get(link)
    assert page.status_code == 200
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token is not None
    confirmed = reader.post(link, data={"form_token": token.group(1)})
    assert confirmed.status_code == 200 and "订阅已确认" in confirmed.text
    with sqlite3.connect(site.directory / "pressroom.db") as conn:
        rows = conn.execute(
            "SELECT e.to_status, e.ip FROM consent_events e JOIN subscribers s"
            " ON s.id = e.subscriber_id WHERE s.email = ? ORDER BY e.id",
            ("proxy-reader@example.com",),
        ).fetchall()
    assert rows == [("pending", CLIENT_ADDRESS), ("active", CLIENT_ADDRESS)]


@pytest.mark.slow
@pytest.mark.external
def test_metrics_missing_files_and_hidden_names_through_the_proxy(
    site: Site, reader: httpx.Client
) -> None:
    assert reader.get("/metrics").status_code == 404
    assert reader.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404
    missing = reader.get("/no/such/rss.xml")
    assert missing.status_code == 404 and "找不到这个页面" in missing.text  # the app's page
    (site.directory / "public" / ".secret.txt").write_text("no")
    assert reader.get("/.secret.txt").status_code == 404
    assert reader.get("/healthz").json()["store"] == "ok"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(EXAMPLES / "systemd" / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(
    ("name", "stop_window", "writable"),
    [
        (
            "pressroom-worker.service",
            STOP_TIMEOUT,
            {"/var/lib/pressroom", "/var/www/pressroom/public"},
        ),
        ("pressroom-web.service", STOP_SECONDS, {"/var/lib/pressroom"}),
    ],
)
def test_the_units_are_hardened_and_stop_within_their_window(
    name: str, stop_window: float, writable: set[str]
) -> None:
    service = _unit(name)["Service"]
    assert service["User"] == "pressroom" and service["Group"] == "pressroom"
    assert service["ProtectSystem"] == "strict"
    assert set(service["ReadWritePaths"].split()) == writable
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    # systemd kills after TimeoutStopSec: it must outlast the process's own stop window
    assert stop_window < float(service["TimeoutStopSec"]) <= stop_window + 60
    nginx_root = re.search(
        r"^\s*root (\S+);", (EXAMPLES / "nginx" / "pressroom.conf").read_text(), re.M
    )
    assert nginx_root is not None
    worker = _unit("pressroom-worker.service")["Service"]["ReadWritePaths"].split()
    assert nginx_root.group(1) in worker  # the worker writes what nginx serves


@pytest.mark.external
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze (Debian systemd)")
    pressroom = Path(sys.executable).with_name("pressroom")
    for unit in (EXAMPLES / "systemd").glob("*.service"):
        text = unit.read_text(encoding="utf-8")
        assert "/opt/pressroom/venv/bin/pressroom" in text
        (tmp_path / unit.name).write_text(
            text.replace("/opt/pressroom/venv/bin/pressroom", str(pressroom))
        )
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    assert len(units) == 2
    verified = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, timeout=60
    )
    # an unknown or misspelt key is only a warning: any output fails the test
    assert verified.returncode == 0 and verified.stderr == "" and verified.stdout == "", verified
