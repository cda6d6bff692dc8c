"""Each demo feed says where it belongs (section page, logo, icon, copyright, generator
version), and passes the W3C Feed Validation Service with no error and no warning."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedkit import json_feed, parse_feed, strict_xml
from support import NOW
from w3ckit import w3c_problems

from pressroom import __version__
from pressroom.config import load_settings
from pressroom.demo.corpus import DEMO_BASE_URL, demo_sections, load_demo
from pressroom.demo.site_config import (
    DEMO_COPYRIGHT,
    DEMO_ICON_URL,
    DEMO_LOGO_URL,
    render_demo_config,
)
from pressroom.feeds import build_feeds
from pressroom.store.engine import open_store
from pressroom.wiring import feed_config

PUBLIC = "https://feeds.dangjian.example.cn/"
ATOM = "{http://www.w3.org/2005/Atom}"
TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
}


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo site built from the demo's own config (with a WebSub hub added)."""
    root = tmp_path_factory.mktemp("belongs")
    text = render_demo_config(public_url=PUBLIC)
    text = text.replace("[feeds]\n", '[feeds]\nwebsub_hub = "https://hub.example.net/"\n', 1)
    (root / "pressroom.toml").write_text(text, encoding="utf-8")
    settings = load_settings(root / "pressroom.toml")
    store = open_store(settings.store_url)
    try:
        load_demo(store, NOW, subscribers=False)
        config = feed_config(settings)
        assert build_feeds(config, store, now=NOW).ok
        yield config.output_dir
    finally:
        store.dispose()


def _page(name: str) -> str:
    return f"{DEMO_BASE_URL}{name}/" if name not in ("all", "important") else DEMO_BASE_URL


def test_the_demo_config_sets_where_its_feeds_belong() -> None:
    settings = load_settings(None, **_toml(render_demo_config()))
    assert settings.site.logo_url == DEMO_LOGO_URL and settings.site.icon_url == DEMO_ICON_URL
    assert settings.site.copyright == DEMO_COPYRIGHT
    assert [s.url for s in settings.sections] == [
        f"{DEMO_BASE_URL}{s.slug}/" for s in demo_sections()
    ]


def _toml(text: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(text)


def test_rss_carries_its_page_image_copyright_and_generator(demo_out: Path) -> None:
    for path in sorted(demo_out.glob("*/rss.xml")):
        channel = strict_xml(path).find("channel")
        link, title = channel.findtext("link"), channel.findtext("title")
        assert link == _page(path.parent.name)
        image = channel.find("image")  # RSS 2.0: url, title and link, matching the channel
        assert image.findtext("url") == DEMO_LOGO_URL
        assert image.findtext("title") == title and image.findtext("link") == link
        assert channel.findtext("copyright") == DEMO_COPYRIGHT
        assert channel.findtext("generator") == f"pressroom {__version__}"
        assert parse_feed(path).feed.image.href == DEMO_LOGO_URL


def test_atom_carries_its_page_logo_icon_rights_and_generator(demo_out: Path) -> None:
    for path in sorted(demo_out.glob("*/atom.xml")):
        feed = strict_xml(path)
        alternate = feed.find(f"{ATOM}link[@rel='alternate']")
        assert alternate.get("href") == _page(path.parent.name)
        assert feed.findtext(f"{ATOM}logo") == DEMO_LOGO_URL
        assert feed.findtext(f"{ATOM}icon") == DEMO_ICON_URL
        assert feed.findtext(f"{ATOM}rights") == DEMO_COPYRIGHT
        generator = feed.find(f"{ATOM}generator")
        assert generator.text == "pressroom" and generator.get("version") == __version__
        updated = [e.findtext(f"{ATOM}updated") for e in feed.iter(f"{ATOM}entry")]
        assert len(updated) == len(set(updated)), f"{path}: entries share an updated time"


def test_json_feed_and_opml_carry_the_page_and_images(demo_out: Path) -> None:
    for path in sorted(demo_out.glob("*/feed.json")):
        data = json_feed(path)
        assert data["home_page_url"] == _page(path.parent.name)
        assert data["icon"] == DEMO_LOGO_URL and data["favicon"] == DEMO_ICON_URL
    opml = strict_xml(demo_out / "feeds.opml")
    for outline in opml.iterfind("body/outline/outline[@xmlUrl]"):
        name = outline.get("xmlUrl").removeprefix(PUBLIC).split("/")[0]
        assert outline.get("htmlUrl") == _page(name)


def test_every_demo_feed_passes_the_w3c_validator_without_warnings(demo_out: Path) -> None:
    problems = {}
    for name, content_type in TYPES.items():
        for path in sorted(demo_out.glob(f"*/{name}")):
            url = f"{PUBLIC}{path.parent.name}/{name}"
            found = w3c_problems(path, url, content_type)
            if found:
                problems[url] = found
    assert problems == {}


@pytest.mark.external
@pytest.mark.skipif(shutil.which("newsboat") is None, reason="newsboat is not installed")
@pytest.mark.parametrize("file", ["rss.xml", "atom.xml"])
def test_newsboat_takes_the_section_page_as_the_feed_link(
    demo_out: Path, tmp_path: Path, file: str
) -> None:
    section = demo_sections()[2].slug  # 重要讲话, with the seed article
    urls = {(demo_out / name / file).resolve().as_uri(): name for name in ("all", section)}
    (tmp_path / "urls").write_text("\n".join(urls) + "\n", encoding="utf-8")
    (tmp_path / "config").write_text(f'error-log "{tmp_path / "error.log"}"\n', encoding="utf-8")
    command = ["newsboat", "-C", str(tmp_path / "config"), "-u", str(tmp_path / "urls")]
    subprocess.run(
        [*command, "-c", str(tmp_path / "cache.db"), "-x", "reload"],
        env={
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert (tmp_path / "error.log").read_text(encoding="utf-8", errors="replace").strip() == ""
    with sqlite3.connect(tmp_path / "cache.db") as db:
        links = dict(db.execute("select rssurl, url from rss_feed"))
    assert {urls[u]: link for u, link in links.items()} == {
        name: _page(name) for name in urls.values()
    }
