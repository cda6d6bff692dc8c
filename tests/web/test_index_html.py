"""``/`` is valid HTML: the index file the feed builder writes and the page served with
the subscribe form inserted (html5lib's strict parser, plus the content-model rules a
parser forgives: metadata elements such as ``<style>`` belong in ``<head>``)."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import html5lib
import httpx
import pytest
from servekit import ServeProcess, make_demo
from starlette.testclient import TestClient

HEAD_ONLY = {"style", "title", "base", "meta"}
"""Elements allowed only in ``<head>`` (``meta`` with ``itemprop`` aside)."""

BODY_OK_LINKS = {"stylesheet", "preload", "prefetch", "modulepreload", "dns-prefetch"}


def html_problems(page: bytes) -> list[str]:
    """Why ``page`` is not valid HTML (empty when it is)."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        document: Element = parser.parse(page)
    except html5lib.html5parser.ParseError as exc:
        return [f"parse error: {exc}"]
    problems = []
    body = document.find("body")
    assert body is not None
    for element in body.iter():
        if element.tag in HEAD_ONLY and "itemprop" not in element.attrib:
            problems.append(f"<{element.tag}> in <body>")
        rels = set(element.get("rel", "").split())
        if element.tag == "link" and not rels <= BODY_OK_LINKS:
            problems.append(f"<link rel={element.get('rel')!r}> in <body>")
    ids = [element.get("id") for element in document.iter() if element.get("id")]
    problems += [f"duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    return problems


def test_the_checker_finds_a_style_in_the_body() -> None:
    page = b"<!doctype html><html><head><title>t</title></head><body><section>"
    page += b"<style>p{}</style></section></body></html>"
    assert html_problems(page) == ["<style> in <body>"]
    assert html_problems(b"<!doctype html><title>t</title><p><div></p>")[0].startswith("parse")


def test_the_index_of_a_builder_without_the_marker_is_served_valid(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and b'id="pr-subscribe"' in response.content
    assert html_problems(response.content) == []


@pytest.mark.slow
def test_the_demo_index_file_and_the_served_index_are_valid(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = make_demo(tmp_path_factory.mktemp("html") / "site", "http://127.0.0.1:9/")
    static = (Path(config).parent / "public" / "index.html").read_bytes()
    assert html_problems(static) == []
    with ServeProcess(config) as server:
        served = httpx.get(server.url, timeout=10)
    assert served.status_code == 200 and b'id="pr-subscribe"' in served.content
    assert html_problems(served.content) == []
