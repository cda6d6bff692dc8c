"""Feed files: content types, validators, 304, gzip, and path containment."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
import support
from starlette.testclient import TestClient
from webkit import NOW, RSS, FakeClock, Outbox, write_feeds

from pressroom.config import Settings
from pressroom.store.engine import Store
from pressroom.web import create_app
from pressroom.web.file_answer import accepts_gzip
from pressroom.web.files import safe_relative_path
from pressroom.web.routes_feeds import JUMP_LINK, MARKER, insert_form


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/all/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/all/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/all/feed.json", "application/feed+json"),
        ("/feeds.opml", "text/x-opml"),
    ],
)
def test_feed_files_have_their_content_types(
    client: TestClient, path: str, content_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["etag"].startswith('"')
    assert response.headers["x-content-type-options"] == "nosniff"


def test_body_is_the_file_and_etag_is_strong_and_stable(
    client: TestClient, web_settings: Settings
) -> None:
    first = client.get("/all/rss.xml", headers={"Accept-Encoding": "identity"})
    second = client.get("/all/rss.xml", headers={"Accept-Encoding": "identity"})
    assert first.content == RSS.encode("utf-8")
    assert first.headers["etag"] == second.headers["etag"]
    assert not first.headers["etag"].startswith("W/")
    mtime = (web_settings.path(web_settings.feeds.output_dir) / "all" / "rss.xml").stat().st_mtime
    expected = format_datetime(datetime.fromtimestamp(int(mtime), UTC), usegmt=True)
    assert first.headers["last-modified"] == expected


def test_if_none_match_gets_304_without_body(client: TestClient) -> None:
    etag = client.get("/all/rss.xml").headers["etag"]
    response = client.get("/all/rss.xml", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    listed = client.get("/all/rss.xml", headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304


def test_if_modified_since_gets_304_and_older_date_gets_200(client: TestClient) -> None:
    modified = client.get("/all/rss.xml").headers["last-modified"]
    assert client.get("/all/rss.xml", headers={"If-Modified-Since": modified}).status_code == 304
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert client.get("/all/rss.xml", headers={"If-Modified-Since": old}).status_code == 200
    garbage = client.get("/all/rss.xml", headers={"If-Modified-Since": "yesterday"})
    assert garbage.status_code == 200


def test_if_none_match_wins_over_if_modified_since(client: TestClient) -> None:
    modified = client.get("/all/rss.xml").headers["last-modified"]
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": modified}
    assert client.get("/all/rss.xml", headers=headers).status_code == 200


def test_changed_file_gets_new_etag(client: TestClient, web_settings: Settings) -> None:
    etag = client.get("/all/rss.xml").headers["etag"]
    path = web_settings.path(web_settings.feeds.output_dir) / "all" / "rss.xml"
    path.write_text(RSS.replace("第二条", "第三条"), encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    response = client.get("/all/rss.xml", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "第三条" in response.text
    assert response.headers["etag"] != etag


def test_gzip_when_accepted(client: TestClient) -> None:
    response = client.get("/all/rss.xml", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text == RSS  # httpx decoded it
    plain = client.get("/all/rss.xml", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["etag"] != response.headers["etag"]
    revalidated = client.get(
        "/all/rss.xml",
        headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["etag"]},
    )
    assert revalidated.status_code == 304


def test_gzip_bytes_on_the_wire_decompress_to_the_file(client: TestClient) -> None:
    with client.stream("GET", "/all/rss.xml", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw) == RSS.encode("utf-8")
    assert len(raw) < len(RSS.encode("utf-8"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("*", True),
        ("identity", False),
        ("", False),
        ("gzip;q=abc", False),
    ],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_head_has_headers_and_no_body(client: TestClient) -> None:
    response = client.head("/all/rss.xml")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"]


def test_index_is_served_at_root_with_the_subscribe_form(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "订阅源" in response.text  # the builder's page
    assert 'action="/subscribe"' in response.text
    assert 'value="keji"' in response.text  # section choices from the store
    assert response.text.index("pr-subscribe") < response.text.index("</body>")
    etag = response.headers["etag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_index_without_build_shows_the_form(client: TestClient, web_settings: Settings) -> None:
    (web_settings.path(web_settings.feeds.output_dir) / "index.html").unlink()
    response = client.get("/")
    assert response.status_code == 200
    assert 'action="/subscribe"' in response.text
    assert "尚未生成" in response.text


def test_insert_form_uses_marker_then_body_end() -> None:
    form = b"<form>F</form>"
    assert insert_form(b"<p>" + MARKER + b"</p></body>", form) == b"<p><form>F</form></p></body>"
    assert insert_form(b"<p>x</p></BODY >\n", form) == b"<p>x</p><form>F</form></BODY >\n"
    assert insert_form(b"<p>x</p>", form) == b"<p>x</p><form>F</form>"
    own = b'<form method="post" action="/subscribe"></form></body>'
    assert insert_form(own, form) == own
    page = b"<h1>T</h1><ul>feeds</ul></body>"
    assert (
        insert_form(page, form)
        == b"<h1>T</h1>" + JUMP_LINK + b"<ul>feeds</ul><form>F</form></body>"
    )
    assert insert_form(own, form) == own


TRAVERSALS = [
    "/../pressroom.toml",
    "/%2e%2e/pressroom.toml",
    "/%2E%2E/pressroom.toml",
    "/all/%2e%2e/%2e%2e/pressroom.toml",
    "/all/..%2f..%2fpressroom.toml",
    "/%2e%2e%2fpressroom.toml",
    "/all%2f%2e%2e%2f%2e%2e%2fpressroom.toml",
    "/..%5cpressroom.toml",
    "/all/%5c..%5c..%5cpressroom.toml",
    "/%252e%252e/pressroom.toml",
    "/.%2e/pressroom.toml",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/all/rss.xml%00.html",
    "/.hidden.xml",
    "/store.db",
    "/secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_nothing_outside_the_output_dir_is_reachable(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "secret = " not in response.text
    assert "root:" not in response.text


async def _asgi_get(app: object, raw_path: bytes, path: str) -> tuple[int, bytes]:
    """Call the app with a hand-made scope (no client normalising the URL)."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)  # type: ignore[operator]
    status = int(sent[0]["status"])  # type: ignore[call-overload]
    body = b"".join(m.get("body", b"") for m in sent[1:])  # type: ignore[misc]
    return status, body


@pytest.mark.parametrize(
    "path",
    ["/../pressroom.toml", "/all/../../pressroom.toml", "/./../store.db", "/all/..\\..\\x.xml"],
)
def test_decoded_dot_segments_in_the_scope_are_refused(
    client: TestClient, web_settings: Settings, path: str
) -> None:
    import anyio

    status, body = anyio.run(_asgi_get, client.app, path.encode(), path)
    assert status == 404
    assert b"secret" not in body


def test_symlink_out_of_the_output_dir_is_refused(
    client: TestClient, web_settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.xml"
    outside.write_text("<secret/>", encoding="utf-8")
    root = web_settings.path(web_settings.feeds.output_dir)
    (root / "leak.xml").symlink_to(outside)
    (root / "inside.xml").symlink_to(root / "all" / "rss.xml")
    assert client.get("/leak.xml").status_code == 404
    assert client.get("/inside.xml").status_code == 200


def test_a_served_file_later_replaced_by_a_symlink_leading_out_is_refused(
    client: TestClient, web_settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.xml"
    outside.write_text("<secret/>", encoding="utf-8")
    root = web_settings.path(web_settings.feeds.output_dir)
    (root / "page.xml").write_text("<page/>", encoding="utf-8")
    assert client.get("/page.xml").text == "<page/>"  # now cached under its URL path
    (root / "link.xml").symlink_to(outside)
    (root / "link.xml").replace(root / "page.xml")
    assert client.get("/page.xml").status_code == 404


def test_a_file_renamed_into_place_with_the_same_size_is_served_anew(
    client: TestClient, web_settings: Settings
) -> None:
    root = web_settings.path(web_settings.feeds.output_dir)
    (root / "page.xml").write_text("<one/>", encoding="utf-8")
    first = client.get("/page.xml")
    (root / "new.xml").write_text("<two/>", encoding="utf-8")
    os.utime(root / "new.xml", ns=((root / "page.xml").stat().st_mtime_ns,) * 2)
    (root / "new.xml").replace(root / "page.xml")  # what the builder's atomic write does
    again = client.get("/page.xml")
    assert again.text == "<two/>" and again.headers["etag"] != first.headers["etag"]


def test_directories_and_unknown_types_are_404(client: TestClient, web_settings: Settings) -> None:
    root = web_settings.path(web_settings.feeds.output_dir)
    (root / "notes.py").write_text("x = 1\n")
    assert client.get("/all").status_code == 404
    assert client.get("/all/").status_code == 404
    assert client.get("/notes.py").status_code == 404
    assert client.get("/missing/rss.xml").status_code == 404


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("/a/b.xml", ("a", "b.xml")),
        ("/", ()),
        ("/a/../b", None),
        ("/a//b", None),
        ("/.env", None),
        ("/a\\b", None),
        ("/a\x00b", None),
        ("/a\nb", None),
    ],
)
def test_safe_relative_path(path: str, parts: tuple[str, ...] | None) -> None:
    assert safe_relative_path(path) == parts


HUBS = ["https://hub.example.com/", "https://second-hub.example.org/websub"]


@pytest.fixture
def hub_client(tmp_path: Path, web_store: Store) -> Iterator[TestClient]:
    settings = support.make_settings(
        tmp_path,
        site={"name": "测试新闻"},
        store={"url": "sqlite:///store.db"},
        feeds={
            "output_dir": "public",
            "websub_hub": HUBS,
            "public_url": "https://feeds.example.cn/",
        },
        mail={"outbox": "outbox", "from_address": "news@example.com"},
        web={"public_url": "https://news.example.cn/"},
    )
    write_feeds(settings.path(settings.feeds.output_dir))
    with TestClient(create_app(settings, web_store, FakeClock(NOW), send=Outbox().send)) as client:
        yield client


@pytest.mark.parametrize("path", ["/all/rss.xml", "/all/atom.xml", "/all/feed.json"])
def test_every_feed_response_names_the_hubs_and_itself(hub_client: TestClient, path: str) -> None:
    expected = [f'<{hub}>; rel="hub"' for hub in HUBS]
    expected.append(f'<https://feeds.example.cn{path}>; rel="self"')  # [feeds] public_url
    first = hub_client.get(path)
    assert first.status_code == 200 and first.headers.get_list("link") == expected
    packed = hub_client.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers.get_list("link") == expected
    again = hub_client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers.get_list("link") == expected
    assert hub_client.head(path).headers.get_list("link") == expected


@pytest.mark.parametrize("path", ["/", "/feeds.opml", "/index.html", "/no/such/rss.xml"])
def test_what_is_not_a_feed_has_no_link_headers(hub_client: TestClient, path: str) -> None:
    assert "link" not in hub_client.get(path).headers
