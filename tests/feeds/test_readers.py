"""Real programs read what the build wrote: newsboat (feeds over file://) and Chromium
(the index page on a phone-sized screen)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from feedkit import DemoSite, parse_feed

from pressroom.demo.corpus import demo_sections


def _newsboat(urls: list[str], work: Path) -> tuple[dict[str, int], list[tuple[str, ...]], str]:
    """Let newsboat fetch ``urls`` into a fresh cache: items per feed URL, every item's
    (feed title, title, author, pubDate), and its error log."""
    work.mkdir()
    (work / "urls").write_text("\n".join(urls) + "\n", encoding="utf-8")
    (work / "config").write_text(f'error-log "{work / "error.log"}"\n', encoding="utf-8")
    command = ["newsboat", "-C", str(work / "config"), "-u", str(work / "urls")]
    subprocess.run(
        [*command, "-c", str(work / "cache.db"), "-x", "reload"],
        env={"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(work), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=True,
    )
    with sqlite3.connect(work / "cache.db") as db:
        counts = dict(db.execute("select feedurl, count(*) from rss_item group by feedurl"))
        items = db.execute(
            "select f.title, i.title, i.author, i.pubDate from rss_item i"
            " join rss_feed f on f.rssurl = i.feedurl"
        ).fetchall()
    return counts, items, (work / "error.log").read_text(encoding="utf-8", errors="replace")


@pytest.mark.external
@pytest.mark.skipif(shutil.which("newsboat") is None, reason="newsboat is not installed")
@pytest.mark.parametrize("file", ["rss.xml", "atom.xml"])
def test_newsboat_reads_every_demo_feed(demo_site: DemoSite, tmp_path: Path, file: str) -> None:
    # newsboat keeps one item per guid in a cache, and an article is in `all`, maybe in
    # `important` and in its section: one cache for the sections, one each for the others.
    groups = [["all"], ["important"], [s.slug for s in demo_sections()]]
    for n, names in enumerate(groups):
        urls = [(demo_site.out / name / file).resolve().as_uri() for name in names]
        counts, items, errors = _newsboat(urls, tmp_path / str(n))
        assert errors.strip() == ""
        for name, url in zip(names, urls, strict=True):
            assert counts.get(url) == len(parse_feed(demo_site.out / name / file).entries)
        assert all(title.startswith("辽宁党建网 · ") for title, *_ in items)
        assert all(author and date > 1_500_000_000 for _f, _t, author, date in items)
        if n == 2:
            seed = [i for i in items if i[1] == "亲自部署!习近平:坚决打赢疫情防控阻击战"]
            [(feed_title, _title, author, published)] = seed
            assert (feed_title, published) == ("辽宁党建网 · 重要讲话", 1580482260)
            # names without their role (newsboat shows RSS's last dc:creator, Atom's all)
            assert set(author.split(", ")) <= {"岳小乔", "王靖远", "王宇峰"}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_the_index_page_renders_on_a_phone(demo_site: DemoSite, tmp_path: Path) -> None:
    index = (demo_site.out / "index.html").resolve()
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu"]
    common += ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    common += [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=375,800"]
    dom = subprocess.run(
        [*common, "--dump-dom", index.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
        text=True,
    ).stdout
    assert dom.count('class="feed"') == 24 and "全部文章" in dom
    shot = tmp_path / "index.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", index.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == 375
