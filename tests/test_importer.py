"""`pressroom import`: good rows kept, bad rows reported by line, re-import changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from storekit import newest_articles
from support import NOW

from pressroom.cli import main
from pressroom.models import Article
from pressroom.store.engine import open_store

CONFIG = """
[site]
timezone = "Asia/Shanghai"
[[sections]]
slug = "zhongyao-jianghua"
name = "重要讲话"
weight = 3
[[sections]]
slug = "quanwei-fabu"
name = "权威发布"
"""


def article(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "url": f"https://news.example.cn/a/{n}.html",
        "section": "重要讲话",
        "title": f"标题{n}",
        "summary": "摘要",
        "body_html": "<p>正文</p>",
        "authors": ["文字:岳小乔", "视频:王靖远"],
        "published_at": "2020-01-31T22:51:00",
        "views": 1539,
        "priority": 1,
    } | changes


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "pressroom.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_import(site: Path, source: Path | str) -> int:
    return main(["--config", str(site / "pressroom.toml"), "import", str(source)])


def stored(site: Path) -> dict[str, Article]:
    """Every stored article by URL (all are published, in 2020)."""
    store = open_store(f"sqlite:///{site / 'pressroom.db'}")
    with store.read() as conn:
        rows = {a.url: a for a in newest_articles(conn, None, 10_000, NOW)}
    store.dispose()
    return rows


def test_good_rows_import_and_naive_times_are_site_time(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(site / "a.jsonl", [article(1), article(2, section="quanwei-fabu")])
    assert run_import(site, source) == 0
    assert "2 new" in capsys.readouterr().out
    rows = stored(site)
    first = rows["https://news.example.cn/a/1.html"]
    assert first.section == "zhongyao-jianghua"
    assert first.published_at == datetime(2020, 1, 31, 14, 51, tzinfo=UTC)
    assert first.authors == "文字:岳小乔;视频:王靖远"
    assert rows["https://news.example.cn/a/2.html"].section == "quanwei-fabu"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (article(9, url=None), "missing url"),
        (article(9, title="  "), "title is empty"),
        ({k: v for k, v in article(9).items() if k != "title"}, "missing title"),
        (article(9, section="体育"), "unknown section '体育'"),
        (article(9, published_at="31/01/2020"), "published_at is not an ISO 8601 date"),
        (article(9, views=-1), "views must not be negative"),
        (article(9, views="many"), "views must be a whole number"),
        (article(9, url="/a/9.html"), "url must be an absolute http(s) URL"),
        (article(9, priority=7), "priority must be 0, 1 or 2"),
        (article(9, status="hidden"), "status must be published, draft or deleted"),
        (article(9, colour="red"), "unknown field 'colour'"),
    ],
)
def test_bad_rows_are_reported_by_line_and_good_rows_kept(
    site: Path, capsys: pytest.CaptureFixture[str], bad: Any, reason: str
) -> None:
    source = write_jsonl(site / "a.jsonl", [article(1), bad, article(2)])
    assert run_import(site, source) == 1
    captured = capsys.readouterr()
    assert f"line 2: {reason}" in captured.err
    assert "2 new" in captured.out and "1 bad" in captured.out
    assert set(stored(site)) == {f"https://news.example.cn/a/{n}.html" for n in (1, 2)}


def test_reimport_changes_nothing(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(site / "a.jsonl", [article(n) for n in range(5)])
    assert run_import(site, source) == 0
    before = stored(site)
    assert run_import(site, source) == 0
    assert "5 unchanged" in capsys.readouterr().out
    assert stored(site) == before


def test_edited_row_updates_in_place(site: Path) -> None:
    write_jsonl(site / "a.jsonl", [article(1), article(2)])
    assert run_import(site, site / "a.jsonl") == 0
    before = stored(site)["https://news.example.cn/a/1.html"]
    write_jsonl(site / "b.jsonl", [article(1, title="改过的标题", views=2000)])
    assert run_import(site, site / "b.jsonl") == 0
    rows = stored(site)
    after = rows["https://news.example.cn/a/1.html"]
    assert len(rows) == 2
    assert (after.id, after.title, after.views) == (before.id, "改过的标题", 2000)
    assert after.updated_at > before.updated_at


def test_explicit_updated_at_and_offsets(site: Path) -> None:
    row = article(1, published_at="2020-01-31T14:51:00Z", updated_at="2020-02-01T08:00:00+08:00")
    write_jsonl(site / "a.jsonl", [row])
    assert run_import(site, site / "a.jsonl") == 0
    stored_row = stored(site)["https://news.example.cn/a/1.html"]
    assert stored_row.published_at == datetime(2020, 1, 31, 14, 51, tzinfo=UTC)
    assert stored_row.updated_at == datetime(2020, 2, 1, 0, 0, tzinfo=UTC)


@pytest.mark.slow
def test_import_from_stdin(site: Path) -> None:
    data = "\n".join(json.dumps(article(n), ensure_ascii=False) for n in range(3)) + "\n"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pressroom",
            "--config",
            str(site / "pressroom.toml"),
            "import",
            "-",
        ],
        input=data.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"3 new" in done.stdout
    assert len(stored(site)) == 3


def test_missing_file_is_a_usage_error(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_import(site, site / "nope.jsonl") == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err


def test_batches_commit_across_many_rows(site: Path) -> None:
    source = write_jsonl(site / "a.jsonl", [article(n) for n in range(2500)] + ["oops"])
    code = main(
        ["--config", str(site / "pressroom.toml"), "import", str(source), "--batch-size", "700"]
    )
    assert code == 1
    assert len(stored(site)) == 2500


@pytest.mark.postgres
def test_an_import_on_postgresql_notifies_a_listening_worker(site: Path, pg_url: str) -> None:
    """Each committed batch sends ``NOTIFY pressroom_articles`` (the feeds watch wakes)."""
    import threading

    from pressroom.store.notify import ArticlesListener

    config = site / "pressroom.toml"
    config.write_text(CONFIG + f'\n[store]\nurl = "{pg_url}"\n', encoding="utf-8")
    store = open_store(pg_url)
    woken = threading.Event()
    listener = ArticlesListener(store, woken.set)
    assert listener.start()
    try:
        assert listener.listening.wait(10)
        assert not woken.wait(0.3)  # nothing yet
        assert run_import(site, write_jsonl(site / "a.jsonl", [article(1)])) == 0
        assert woken.wait(5)
    finally:
        listener.stop()
        store.dispose()
