"""Hostile and broken requests at ``/api/articles``, by a real HTTP client (and a raw socket)
against ``pressroom serve`` on a SQLite store and on a PostgreSQL store.

Every refusal is the right status with one sentence of JSON (no traceback, no SQL), and
leaves the store as it was; a bad item costs its own place in the answer, never the
request's good items. PostgreSQL refuses NUL in text: a NUL anywhere is a row error or a
400 there too, never a 500.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingestkit import AUTH, SECTIONS, TOKEN, article
from livekit import LiveServer
from opskit import lock_sqlite
from sqlalchemy import create_engine, text
from storekit import article_rows
from support import make_settings

from pressroom.errors import ConfigError
from pressroom.store.engine import Store, open_store
from pressroom.store.sources import SourceState, save_hashes, write_state
from pressroom.web import routes_ingest
from pressroom.web.app import create_app

JSON = {**AUTH, "Content-Type": "application/json"}
OWNED = "https://cms.example.cn/owned.html"


class Api:
    """A running ``pressroom serve`` with the API on, its store, and a client."""

    def __init__(self, base: str, store: Store) -> None:
        self.base, self.store = base, store
        self.client = httpx.Client(base_url=base, timeout=60)

    def urls(self) -> dict[str, str]:
        """Every stored article's URL -> its status."""
        return {str(r["url"]): str(r["status"]) for r in article_rows(self.store)}

    def post(self, body: bytes, **headers: str) -> httpx.Response:
        return self.client.post("/api/articles", content=body, headers={**JSON, **headers})


def _pg_schema(base_url: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("ingest")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'store.db'}"
    else:
        schema, url = _pg_schema(request.getfixturevalue("pg_base_url"))
    web = {"ingest_token": TOKEN, "ingest_per_minute": 100_000}
    settings = make_settings(folder, SECTIONS, web=web, store={"url": url})
    store = open_store(settings.store_url)
    with store.write() as conn:  # an article a SQL source wrote
        write_state(conn, "cms", SourceState())
        save_hashes(conn, "cms", {OWNED: "0" * 32})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    log = folder / "serve.err"  # a file: a pipe nobody reads would stop the server once full
    log_file = log.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(settings.source), "serve",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=log_file, text=True, env=env, cwd=folder,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"serving (http://[0-9.]+:\d+/)", line)
        assert match, line
        served = Api(match.group(1), store)
        served.client.post("/api/articles", json=article(0))  # one article to keep intact
        yield served
        served.client.close()
    finally:
        server.terminate()
        server.communicate(timeout=30)
        log_file.close()
        errors = log.read_text(encoding="utf-8", errors="replace")
        store.dispose()
        if schema is not None:
            admin = create_engine(request.getfixturevalue("pg_base_url"))
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    assert "Traceback" not in errors, errors[-3000:]  # no request made the server fail


def refused(answer: httpx.Response, status: int) -> str:
    """The one sentence of a refusal with ``status``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    sentence: str = body["error"]
    assert "\n" not in sentence and "Traceback" not in sentence
    assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|sqlalchemy|psycopg)\b", sentence)
    return sentence


def errors(answer: httpx.Response) -> list[tuple[int, str]]:
    """The per-item errors of a 422."""
    assert answer.status_code == 422, answer.text
    return [(e["index"], e["error"]) for e in answer.json()["errors"]]


def test_authorization_is_one_bearer_token_exactly(api: Api) -> None:
    before = api.urls()
    body = json.dumps(article(1)).encode()
    typed = {"Content-Type": "application/json"}

    def post(*headers: tuple[str, str]) -> httpx.Response:
        return api.client.post("/api/articles", content=body, headers=[*typed.items(), *headers])

    wrong_answers = [
        post(),
        post(("Authorization", "")),
        post(("Authorization", "Bearer")),
        post(("Authorization", f"Basic {TOKEN}")),
        post(("Authorization", f"Bearer {TOKEN.upper()}")),
        post(("Authorization", f"Bearer {TOKEN[:-1]}x")),  # the right length, one wrong
        post(("Authorization", f"Bearer {TOKEN}x")),
        post(("Authorization", f"Bearer\t{TOKEN}")),
        post(("Authorization", b"Bearer " + "é".encode("latin-1") * 38)),  # type: ignore[arg-type]
    ]
    twice = [
        post(("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer nope")),
        post(("Authorization", "Bearer nope"), ("Authorization", f"Bearer {TOKEN}")),
    ]

    for answer in wrong_answers:
        assert refused(answer, 401).startswith("a valid ingest token is required")
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="pressroom ingest"'
    for answer in twice:
        assert refused(answer, 401) == "send one Authorization header, not several"
    assert api.urls() == before
    for scheme in ("bearer", "BEARER", "Bearer  "):  # the scheme in any case, spaces around
        assert post(("Authorization", f"{scheme} {TOKEN}")).status_code == 200


def test_bodies_past_the_limit_are_refused_without_being_stored(api: Api) -> None:
    before = api.urls()

    def chunks() -> Iterator[bytes]:
        yield b"["
        for n in range(9 * 1024):
            yield (json.dumps(article(n)) + ",").encode().ljust(1024)

    chunked = api.client.post("/api/articles", content=chunks(), headers=JSON)
    many = api.post(json.dumps([{}] * 10_001).encode())
    lines = api.post(b"{}\n" * 10_001, **{"Content-Type": "application/x-ndjson"})
    declared = _raw(api.base, b"POST", JSON, b"[]", declared=64 * 1024 * 1024)

    assert refused(chunked, 413) == "the body is larger than 8 MB; send fewer articles at once"
    assert refused(many, 413) == "more than 10,000 articles; send fewer at once"
    assert refused(lines, 413) == "more than 10,000 articles; send fewer at once"
    assert declared.startswith(b"HTTP/1.1 413 ")
    assert b'{"error":"the body is larger than 8 MB' in declared
    assert api.urls() == before


def _raw(base: str, method: bytes, headers: dict[str, str], body: bytes, declared: int) -> bytes:
    """A request whose Content-Length says ``declared`` but that sends ``body``; the answer."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = [b"%s /api/articles HTTP/1.1" % method, b"Host: " + host.encode()]
        head += [f"{k}: {v}".encode() for k, v in headers.items()]
        head += [b"Content-Length: %d" % declared, b"Connection: close"]
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_whole_body_that_is_not_json_is_one_sentence(api: Api) -> None:
    before = api.urls()
    cases: list[tuple[bytes, str]] = [
        (b'{"title": "\xff"}', "the body is not UTF-8 (byte 12)"),
        (b"", "the body is not valid JSON (Expecting value)"),
        (b"[" * 100_000 + b"]" * 100_000, "the body is not valid JSON (nested too deeply)"),
        (b'{"views": ' + b"9" * 5000 + b"}", "the body is not valid JSON (a number with too many "
         "digits)"),
        (b"42", "the body must be a JSON object or an array of objects"),
        (b'"x"', "the body must be a JSON object or an array of objects"),
    ]  # fmt: skip

    for body, sentence in cases:
        assert refused(api.post(body), 400) == sentence
    assert api.urls() == before


def test_types_and_charsets_other_than_json_in_utf8_are_415(api: Api) -> None:
    body = json.dumps(article(1)).encode()
    for kind in ("text/plain", "application/x-www-form-urlencoded", "", "application/jsonx"):
        assert refused(api.post(body, **{"Content-Type": kind}), 415).startswith("send application")
    latin = api.post(body, **{"Content-Type": "application/json; charset=ISO-8859-1"})
    assert refused(latin, 415) == "send the body in UTF-8 (charset=iso-8859-1 was declared)"
    for kind in ('application/json; charset="UTF-8"', "Application/JSON ;charset=utf8"):
        assert (
            api.post(json.dumps(article(2)).encode(), **{"Content-Type": kind}).status_code == 200
        )


def test_bad_items_are_reported_by_index_and_the_good_ones_stored(api: Api) -> None:
    items: list[Any] = [
        article(10, title="空\u0000字"),
        article(11, url="https://news.example.cn/\u0000.html"),
        article(12, body_html="<p>\u0000</p>"),
        article(13, section="\ud800"),
        article(14, url="javascript:alert(1)"),
        article(15, url="data:text/html,<script>"),
        article(16, url="ftp://news.example.cn/16"),
        article(17, url="https://news.example.cn/\u001b[31m"),
        article(18, url="https://news.example.cn/a\u0085b"),
        article(19, image_url="javascript:alert(1)"),
        1,
        None,
        [],
        article(20, views=1e999),
        article(21),  # good
        article(22, authors=["记者", "\u0000"]),
        {"\u0000": 1},
    ]
    body = json.dumps(items, ensure_ascii=True).replace("Infinity", "1e999").encode()
    doubled = b'[{"url": "https://news.example.cn/23.html", "url": "javascript:x", ' + (
        b'"section": "domestic", "title": "t", "published_at": "2026-11-28"}, '
        + json.dumps(article(24)).encode()
        + b"]"
    )
    nan = json.dumps(article(25, views=0)).replace('"views": 0', '"views": NaN').encode()

    answer = api.post(body)
    twice = api.post(doubled)
    not_a_number = api.post(nan)

    assert errors(answer) == [
        (0, "title contains a NUL character"),
        (1, "url contains a NUL character"),
        (2, "body_html contains a NUL character"),
        (3, "section contains a lone surrogate (\\ud800), which is not text"),
        (4, "url must be an absolute http(s) URL, got 'javascript:alert(1)'"),
        (5, "url must be an absolute http(s) URL, got 'data:text/html,<script>'"),
        (6, "url must be an absolute http(s) URL, got 'ftp://news.example.cn/16'"),
        (7, "url must be an absolute http(s) URL, got 'https://news.example.cn/\\x1b[31m'"),
        (8, "url must be an absolute http(s) URL, got 'https://news.example.cn/a\\x85b'"),
        (9, "image_url must be an absolute http(s) URL, got 'javascript:alert(1)'"),
        (10, "not a JSON object"),
        (11, "not a JSON object"),
        (12, "not a JSON object"),
        (13, "views must be a whole number, got inf"),
        (15, "authors contains a NUL character"),
        (16, "unknown field '\\x00'"),
    ]
    assert answer.json()["stored"] == 1
    assert errors(twice) == [(0, "field 'url' is given twice")]
    assert errors(not_a_number) == [(0, "views must be a whole number, got nan")]
    stored = api.urls()
    assert (
        "https://news.example.cn/21.html" in stored and "https://news.example.cn/24.html" in stored
    )
    assert not any(f"/{n}.html" in url for url in stored for n in (10, 12, 20, 23, 25))


def test_json_lines_end_at_lf_alone(api: Api) -> None:
    lines = [
        json.dumps(article(30), ensure_ascii=False),
        "",
        "   ",
        json.dumps(article(31, title="行\u2028分隔\u0085下一行"), ensure_ascii=False),
        "{not json",
        json.dumps(article(32)),
    ]
    body = "\r\n".join(lines).encode()

    answer = api.post(body, **{"Content-Type": "application/x-ndjson"})

    assert errors(answer) == [
        (2, "not valid JSON (Expecting property name enclosed in double quotes)")
    ]
    assert answer.json()["stored"] == 3
    assert {f"https://news.example.cn/{n}.html" for n in (30, 31, 32)} <= set(api.urls())


def test_ten_thousand_articles_in_one_request_are_stored(api: Api) -> None:
    body = json.dumps([article(100_000 + n) for n in range(10_000)]).encode()

    answer = api.post(body)

    assert answer.status_code == 200 and answer.json()["stored"] == 10_000


def test_delete_refusals_change_nothing(api: Api) -> None:
    before = api.urls()
    delete = api.client.delete

    assert refused(delete("/api/articles", headers=AUTH), 400).startswith("name the article")
    assert refused(delete("/api/articles?url=", headers=AUTH), 400).startswith("name the article")
    nul = delete("/api/articles", params={"url": "https://news.example.cn/\x00"}, headers=AUTH)
    assert refused(nul, 400) == "the url contains a NUL character"
    script = delete("/api/articles", params={"url": "javascript:x"}, headers=AUTH)
    assert refused(script, 400) == "the url must be an absolute http(s) URL, got 'javascript:x'"
    long = delete("/api/articles", params={"url": "https://x.cn/" + "a" * 3000}, headers=AUTH)
    assert refused(long, 400) == "the url is longer than 2,048 bytes"
    two = delete(
        "/api/articles?url=https://news.example.cn/0.html&url=https://news.example.cn/1.html",
        headers=AUTH,
    )
    assert refused(two, 400).startswith("name one article per request")
    owned = delete("/api/articles", params={"url": OWNED}, headers=AUTH)
    assert refused(owned, 409).startswith("the article at this url comes from source cms")
    assert refused(delete("/api/articles", params={"url": OWNED}), 401)
    assert api.urls() == before


def test_an_article_a_source_wrote_is_not_overwritten(api: Api) -> None:
    answer = api.post(json.dumps([article(40), article(41, url=OWNED)]).encode())

    assert errors(answer) == [
        (1, "the article at this url comes from source cms; change or withdraw it in that "
            "source's database (its next sync would undo this)"),
    ]  # fmt: skip
    assert OWNED not in api.urls()


def test_other_methods_are_405_in_json(api: Api) -> None:
    for method in ("GET", "PUT", "PATCH", "OPTIONS"):
        answer = api.client.request(method, "/api/articles", headers=AUTH)
        assert refused(answer, 405) == f"{method} is not accepted here; use POST or DELETE"
        assert answer.headers["Allow"] == "POST, DELETE"


@pytest.mark.slow
def test_a_store_that_cannot_be_written_is_503_in_one_sentence(tmp_path: Path) -> None:
    web = {"ingest_token": TOKEN, "ingest_per_minute": 100_000}
    settings = make_settings(tmp_path, SECTIONS, web=web, store={"busy_timeout": 1})
    store = open_store(settings.store_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(settings.source), "serve",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        match = re.search(r"serving (http://[0-9.]+:\d+/)", server.stdout.readline())
        assert match
        locker = lock_sqlite(Path(settings.store_url.removeprefix("sqlite:///")), 8)
        try:
            with httpx.Client(base_url=match.group(1), headers=AUTH, timeout=60) as client:
                posted = client.post("/api/articles", json=article(1))
                deleted = client.delete("/api/articles", params={"url": OWNED})
        finally:
            locker.kill()
            locker.communicate()
    finally:
        server.terminate()
        server.communicate(timeout=30)

    for answer in (posted, deleted):
        assert (
            refused(answer, 503) == "the store cannot be used now; nothing was changed, retry later"
        )
        assert answer.headers["Retry-After"] == "30"
    assert article_rows(store) == []
    store.dispose()


def test_a_body_that_trickles_in_is_cut_off_with_408(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_ingest, "INGEST_READ_SECONDS", 0.5)
    web = {"ingest_token": TOKEN, "ingest_per_minute": 100_000}
    settings = make_settings(tmp_path, SECTIONS, web=web)
    store = open_store(settings.store_url)
    try:
        with LiveServer(lambda _url: create_app(settings, store)) as server:
            host, port = server.url.removeprefix("http://").rstrip("/").split(":")
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                head = b"POST /api/articles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                head += f"\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
                sock.sendall(head + b'[{"url": ')  # and then nothing more
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
        assert article_rows(store) == []
    finally:
        store.dispose()

    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert rest.endswith(b'{"error":"the body took longer than 0.5 s to arrive; send it at once"}')


def test_json_text_sequences_are_records_after_rs(api: Api) -> None:
    records = [json.dumps(article(n), ensure_ascii=False) for n in (50, 51)]
    body = "".join(f"\x1e{r}\n" for r in records).encode()

    answer = api.post(body, **{"Content-Type": "application/json-seq"})

    assert answer.status_code == 200 and answer.json()["stored"] == 2


@pytest.mark.parametrize("token", [TOKEN + "\n", " " + TOKEN, TOKEN + "\t"])
def test_a_token_with_white_space_at_its_ends_is_refused_by_the_config(
    tmp_path: Path, token: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, SECTIONS, web={"ingest_token": token})

    assert "must not start or end with white space" in str(caught.value)
