"""The ``subscribers`` and ``digest preview`` / ``send --dry-run`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from digestkit import add_articles, article, count_runs, make_settings
from support import yesterday

from pressroom.cli import main
from pressroom.models import Priority
from pressroom.store.engine import open_store


@pytest.fixture
def config(tmp_path: Path) -> str:
    """A site whose store holds the test sections and two fresh important articles."""
    settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    from datetime import timedelta

    now = yesterday()  # in the window of a digest sent today
    add_articles(
        store,
        [
            article(1, "news", now - timedelta(hours=1), priority=Priority.HEADLINE),
            article(2, "china", now - timedelta(hours=2), priority=Priority.HEADLINE),
        ],
    )
    store.dispose()
    return str(tmp_path / "pressroom.toml")


def _run(config: str, *args: str) -> int:
    return main(["--config", config, *args])


def test_import_keeps_good_rows_and_names_each_bad_line(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = tmp_path / "subs.csv"
    csv_file.write_text(
        "\ufeffEmail,Name,Sections,Frequency,Status\n"
        "a@Example.COM,甲,要闻;china,daily,active\n"
        "not-an-address,乙,,,\n"
        "b@x.com,丙,体育,daily,\n"
        "c@x.com,丁,,hourly,\n"
        "d@x.com,戊,,weekly,gone\n"
        'e@x.com,"Ann, Lee",news|tech,weekly,pending\n'
        "a@example.com,甲二,,,\n",
        encoding="utf-8",
    )
    assert _run(config, "subscribers", "import", str(csv_file)) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "line 3: 'not-an-address' is not a valid e-mail address: "
        "An email address must have an @-sign",
        "line 4: unknown section '体育'",
        "line 5: frequency 'hourly' is not one of daily, weekly",
        "line 6: status 'gone' is not one of pending, active, unsubscribed, bounced, complained",
    ]
    assert out[4:] == [
        "line 8: same address as line 2; the later row wins",
        "7 rows: 2 added, 1 updated, 1 repeated address (the later row won), 4 bad rows skipped",
    ]
    assert _run(config, "subscribers", "export") == 0
    assert capsys.readouterr().out.splitlines() == [
        "email,name,sections,frequency,status",
        "a@example.com,甲二,,daily,active",
        'e@x.com,"Ann, Lee",news;tech,weekly,pending',
    ]


def test_export_then_import_round_trips(config: str, tmp_path: Path) -> None:
    assert (
        _run(config, "subscribers", "add", "x@例子.中国", "--name", "某", "--sections", "国际,tech")
        == 0
    )
    assert _run(config, "subscribers", "add", "y@x.com", "--frequency", "weekly") == 0
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    assert _run(config, "subscribers", "export", str(first)) == 0
    assert _run(config, "subscribers", "import", str(first)) == 0
    assert _run(config, "subscribers", "export", str(second)) == 0
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    assert "x@xn--fsqu00a.xn--fiqs8s,某,world;tech,daily,active" in first.read_text(
        encoding="utf-8"
    )


def test_add_remove_and_list(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(config, "subscribers", "add", "a@x.com", "--sections", "要闻") == 0
    assert _run(config, "subscribers", "add", "a@X.COM", "--name", "甲") == 0
    assert capsys.readouterr().out.splitlines() == [
        "added a@x.com (daily, news)",
        "updated a@x.com (daily, all sections)",
    ]
    assert _run(config, "subscribers", "add", "bad") == 2
    assert _run(config, "subscribers", "add", "b@x.com", "--sections", "nope") == 2
    assert "unknown section 'nope'" in capsys.readouterr().err
    assert _run(config, "subscribers", "remove", "a@x.com") == 0
    assert _run(config, "subscribers", "remove", "zz@x.com") == 2
    capsys.readouterr()
    assert _run(config, "subscribers", "list", "--status", "unsubscribed") == 0
    assert capsys.readouterr().out == "a@x.com\t甲\tunsubscribed\tdaily\t*\n"


@pytest.mark.slow
def test_preview_writes_html_prints_subject_and_text_and_records_nothing(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _run(config, "subscribers", "add", "n@x.com", "--name", "读者", "--sections", "news") == 0
    )
    capsys.readouterr()
    out_file = tmp_path / "p.html"
    assert _run(config, "digest", "preview", "--subscriber", "n@x.com", "--out", str(out_file)) == 0
    printed = capsys.readouterr().out
    assert "Subject: 测试新闻网 · " in printed and "要闻 1 篇" in printed
    assert "读者，您好：" in printed and "news 新闻 1" in printed and "china 新闻 2" not in printed
    html = out_file.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "news 新闻 1" in html
    assert _run(config, "digest", "send", "--dry-run") == 0
    assert "1 subscriber would get a mail" in capsys.readouterr().out
    store = open_store(make_settings(tmp_path).store_url)
    assert count_runs(store) == (0, 0)
    store.dispose()
    assert not (tmp_path / "outbox").exists()
    assert _run(config, "digest", "preview", "--schedule", "nope") == 2
