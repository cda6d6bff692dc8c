"""Security headers on every HTML page (the index included) and ``Allow`` on every 405."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webkit import FakeClock, Outbox

from pressroom.config import Settings
from pressroom.store.engine import Store
from pressroom.web import create_app

HTML_PAGES = [
    ("GET", "/", 200),
    ("HEAD", "/", 200),
    ("GET", "/subscribe", 200),
    ("GET", "/confirm/not-a-token", 400),
    ("GET", "/unsubscribe/not-a-token", 400),
    ("GET", "/preferences/not-a-token", 400),
    ("GET", "/no/such/page", 404),
    ("GET", "/about.html", 200),
    ("PUT", "/", 405),
    ("DELETE", "/subscribe", 405),
    ("POST", "/all/rss.xml", 405),
]
"""Our templates, the feed builder's index, an operator's HTML file, and the error pages."""


def assert_page_headers(headers: object) -> None:
    get = headers.get  # type: ignore[attr-defined]
    csp = get("content-security-policy") or ""
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ") if part}
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("default-src") == ["'none'"], csp
    assert directives.get("base-uri") == ["'none'"], csp
    assert directives.get("form-action") == ["'self'"], csp
    assert "script-src" not in directives  # no script may run on our pages
    assert get("x-content-type-options") == "nosniff"
    # Tokens in our URLs must never reach another site through Referer.
    assert get("referrer-policy") in ("no-referrer", "same-origin")
    assert get("x-frame-options") == "DENY"


@pytest.mark.parametrize(("method", "path", "status"), HTML_PAGES)
def test_every_html_page_has_the_security_headers(
    client: TestClient, web_settings: Settings, method: str, path: str, status: int
) -> None:
    public = web_settings.path(web_settings.feeds.output_dir)
    (public / "about.html").write_text("<!doctype html><title>关于</title><p>关于本站</p>", "utf-8")
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert_page_headers(response.headers)


@pytest.mark.parametrize("path", ["/", "/about.html"])
def test_a_page_keeps_its_headers_on_revalidation(
    client: TestClient, web_settings: Settings, path: str
) -> None:
    public = web_settings.path(web_settings.feeds.output_dir)
    (public / "about.html").write_text("<!doctype html><title>关于</title><p>关于本站</p>", "utf-8")
    first = client.get(path)
    assert_page_headers(first.headers)
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert_page_headers(again.headers)  # a cache freshens the stored page with these


def test_the_form_alone_before_any_build_has_the_headers(
    web_settings: Settings, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    (web_settings.path(web_settings.feeds.output_dir) / "index.html").unlink()
    with TestClient(create_app(web_settings, web_store, clock, send=outbox.send)) as client:
        response = client.get("/")
    assert response.status_code == 200 and "subscribe" in response.text
    assert_page_headers(response.headers)


def test_too_large_a_body_is_refused_with_the_headers(client: TestClient) -> None:
    response = client.post(
        "/subscribe",
        content=b"email=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("no-referrer", "same-origin")


@pytest.mark.parametrize("path", ["/all/rss.xml", "/all/feed.json", "/feeds.opml", "/healthz"])
def test_other_responses_are_not_sniffed_and_send_no_referrer(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("no-referrer", "same-origin")


PATHS = ["/", "/healthz", "/subscribe", "/confirm/x", "/unsubscribe/x", "/preferences/x",
         "/all/rss.xml", "/no/such/page"]  # fmt: skip
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@pytest.mark.parametrize("path", PATHS)
def test_every_405_says_what_is_allowed_and_tells_the_truth(client: TestClient, path: str) -> None:
    """``Allow`` lists exactly the methods that are not answered with 405 at that path."""
    answered = {method: client.request(method, path) for method in METHODS}
    refused = {method for method, response in answered.items() if response.status_code == 405}
    assert refused, f"{path}: every method accepted"
    accepted = set(METHODS) - refused
    for method in refused:
        allow = answered[method].headers.get("allow")
        assert allow is not None, f"{method} {path}: 405 without Allow"
        assert {m.strip() for m in allow.split(",")} == accepted, (method, path, allow)


def test_allow_names_both_routes_of_a_path(client: TestClient) -> None:
    """``GET /subscribe`` and ``POST /subscribe`` are two routes: Allow names both."""
    response = client.put("/subscribe")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert client.put("/healthz").headers["allow"] == "GET, HEAD"


def test_an_operators_html_file_cannot_run_scripts(
    client: TestClient, web_settings: Settings, tmp_path: Path
) -> None:
    """Files in the output folder are served as they are, but under the same policy."""
    public = web_settings.path(web_settings.feeds.output_dir)
    (public / "x.html").write_text("<script>alert(1)</script>", "utf-8")
    response = client.get("/x.html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
