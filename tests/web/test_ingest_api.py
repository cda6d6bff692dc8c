"""``POST``/``DELETE /api/articles`` driven by a real HTTP client against ``pressroom serve``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ingestkit import AUTH, SECTIONS, TOKEN, article
from storekit import article_rows
from support import make_settings

from pressroom.store.engine import open_store


def serve(folder: Path, **web: object) -> Iterator[tuple[str, Path]]:
    settings = make_settings(folder, SECTIONS, web=web)
    store = open_store(settings.store_url)  # created and migrated before the server starts
    store.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "pressroom", "--config", str(settings.source), "serve",
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=folder,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"serving (http://[0-9.]+:\d+/)", line)
        assert match, line + (server.stderr.read() if server.stderr else "")
        yield match.group(1), Path(settings.store_url.removeprefix("sqlite:///"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from serve(tmp_path, ingest_token=TOKEN, ingest_per_minute=1000)


def rows(db: Path) -> dict[str, dict[str, object]]:
    store = open_store(f"sqlite:///{db}")
    try:
        return {str(r["url"]): r for r in article_rows(store)}
    finally:
        store.dispose()


def test_an_object_an_array_and_json_lines_are_stored(api: tuple[str, Path]) -> None:
    base, db = api
    with httpx.Client(base_url=base, headers=AUTH, timeout=10) as client:
        one = client.post("/api/articles", json=article(1))
        many = client.post("/api/articles", json=[article(2), article(3, priority="头条")])
        lines = "\n".join(json.dumps(article(n), ensure_ascii=False) for n in (4, 5)) + "\n"
        ndjson = client.post(
            "/api/articles",
            content=lines.encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        again = client.post("/api/articles", json=article(1))

    assert one.status_code == 200 and one.json() == {"stored": 1, "unchanged": 0, "errors": []}
    assert many.json()["stored"] == 2 and ndjson.json()["stored"] == 2
    assert again.json() == {"stored": 0, "unchanged": 1, "errors": []}
    stored = rows(db)
    assert len(stored) == 5
    assert stored["https://news.example.cn/3.html"]["priority"] == 2
    assert stored["https://news.example.cn/1.html"]["section"] == "domestic"


def test_bad_items_are_reported_by_index_and_the_good_ones_kept(api: tuple[str, Path]) -> None:
    base, db = api
    body = [article(1), article(2, title=""), "not an object", article(3, section="体育")]
    with httpx.Client(base_url=base, headers=AUTH, timeout=10) as client:
        answer = client.post("/api/articles", json=body)
        lines = client.post(
            "/api/articles",
            content=b'{"url": 1\n' + json.dumps(article(4)).encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )

    assert answer.status_code == 422
    assert answer.json() == {
        "stored": 1,
        "unchanged": 0,
        "errors": [
            {"index": 1, "error": "title is empty"},
            {"index": 2, "error": "not a JSON object"},
            {"index": 3, "error": "unknown section '体育'"},
        ],
    }
    assert lines.json()["errors"][0]["error"].startswith("not valid JSON (")
    assert set(rows(db)) == {"https://news.example.cn/1.html", "https://news.example.cn/4.html"}


def test_delete_withdraws_an_article(api: tuple[str, Path]) -> None:
    base, db = api
    url = "https://news.example.cn/1.html"
    with httpx.Client(base_url=base, headers=AUTH, timeout=10) as client:
        client.post("/api/articles", json=article(1))
        gone = client.delete("/api/articles", params={"url": url})
        twice = client.delete("/api/articles", params={"url": url})
        nameless = client.delete("/api/articles")

    assert gone.json() == {"withdrawn": 1} and twice.json() == {"withdrawn": 0}
    assert nameless.status_code == 400
    assert rows(db)[url]["status"] == "deleted"


def test_refusals_are_one_sentence(api: tuple[str, Path]) -> None:
    base, db = api
    with httpx.Client(base_url=base, timeout=10) as client:
        no_token = client.post("/api/articles", json=article(1))
        wrong = client.post(
            "/api/articles", json=article(1), headers={"Authorization": "Bearer " + "x" * 38}
        )
        as_form = client.post("/api/articles", data={"url": "x"}, headers=AUTH)
        huge = client.post(
            "/api/articles",
            content=b"[" + b" " * (9 * 1024 * 1024) + b"]",
            headers={**AUTH, "Content-Type": "application/json"},
        )
        not_json = client.post(
            "/api/articles", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
        )

    assert no_token.status_code == 401 and wrong.status_code == 401
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert no_token.json() == {
        "error": "a valid ingest token is required (Authorization: Bearer <[web] ingest_token>)"
    }
    assert as_form.status_code == 415
    assert as_form.json()["error"].startswith("send application/json")
    assert huge.status_code == 413
    assert huge.json() == {"error": "the body is larger than 8 MB; send fewer articles at once"}
    assert not_json.status_code == 400 and "\n" not in not_json.json()["error"]
    assert rows(db) == {}


def test_without_a_token_configured_the_api_does_not_exist(tmp_path: Path) -> None:
    for base, _db in serve(tmp_path):
        posted = httpx.post(base + "api/articles", json=article(1), headers=AUTH, timeout=10)
        deleted = httpx.delete(base + "api/articles?url=x", headers=AUTH, timeout=10)
        put = httpx.put(base + "api/articles", headers=AUTH, timeout=10)
        assert posted.status_code == deleted.status_code == put.status_code == 404
        assert posted.headers["content-type"].startswith("text/html")  # the site's own 404 page


def test_the_api_is_rate_limited(tmp_path: Path) -> None:
    for base, _db in serve(tmp_path, ingest_token=TOKEN, ingest_per_minute=3):
        with httpx.Client(base_url=base, timeout=10) as client:
            answers = [client.post("/api/articles", json=article(1)) for _ in range(5)]
        codes = [a.status_code for a in answers]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
        assert int(answers[3].headers["Retry-After"]) >= 1
