"""`pressroom import` on hostile JSON Lines, on SQLite and PostgreSQL: every bad row is
reported by its line, every good row is stored, and no message carries SQL or parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from support import NOW, make_settings

from pressroom.cli import main
from pressroom.errors import ImportRowError
from pressroom.importer import import_lines
from pressroom.store.articles import articles_by_ids, upsert_articles
from pressroom.store.bulk import write_bisecting
from pressroom.store.engine import Store, open_store

SECTIONS = """
[[sections]]
slug = "zhongyao-jianghua"
name = "重要讲话"
[[sections]]
slug = "quanwei-fabu"
name = "权威发布"
"""

SECRET_ADDRESS = "secret.reader@example.org"


def article(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "url": f"https://news.example.cn/a/{n}.html",
        "section": "重要讲话",
        "title": f"标题{n} {SECRET_ADDRESS}",
        "summary": "摘要",
        "published_at": "2020-01-31T22:51:00",
        "views": 1539,
    } | changes


def line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False)


@pytest.fixture
def site(tmp_path: Path, store_url: str) -> Path:
    make_settings(tmp_path, SECTIONS, site={"timezone": "Asia/Shanghai"}, store={"url": store_url})
    return tmp_path


def run(site: Path, lines: list[str], *extra: str, debug: bool = False) -> int:
    source = site / "in.jsonl"
    source.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    flags = ["--debug"] if debug else []
    return main([*flags, "--config", str(site / "pressroom.toml"), "import", str(source), *extra])


def stored(site: Path) -> dict[str, Any]:
    text = (site / "pressroom.toml").read_text(encoding="utf-8")
    url = text.split('url = "')[1].split('"')[0]
    store = open_store(url)
    with store.read() as conn:
        rows = {a.url: a for a in articles_by_ids(conn, range(1, 1000), published_only=False)}
    store.dispose()
    return rows


def urls(*numbers: int) -> set[str]:
    return {f"https://news.example.cn/a/{n}.html" for n in numbers}


HOSTILE = [
    pytest.param('{"title": "\\ud800"}', "lone surrogate", id="lone-surrogate-title"),
    pytest.param(line(article(9, summary="a\x00b")), "NUL", id="nul-summary"),
    pytest.param(line(article(9, url="https://x.cn/\x00")), "NUL", id="nul-url"),
    pytest.param(line(article(9, views=2**31)), "views must be at most", id="views-2**31"),
    pytest.param(line(article(9, views=2**63)), "views must be at most", id="views-2**63"),
    pytest.param(line(article(9, views=2**64 + 1)), "views must be at most", id="views-2**64"),
    pytest.param(
        line(article(9)).replace('"views": 1539', '"views": ' + "9" * 5000),
        "too many digits",
        id="5000-digit-int",
    ),
    pytest.param(
        line(article(9)).replace('"views": 1539', '"views": ' + "9" * 4000),
        "views must be at most",
        id="4000-digit-int",
    ),
    pytest.param(line(article(9, status={"a": 1})), "status must be", id="status-object"),
    pytest.param(line(article(9, status=["published"])), "status must be", id="status-array"),
    pytest.param(line(article(9, priority=[1])), "priority must be", id="priority-array"),
    pytest.param(line(article(9, title={"zh": "x"})), "title must be a string", id="title-obj"),
    pytest.param('{"url": ' + "[" * 100_000 + "]" * 100_000 + "}", "not valid JSON", id="deep"),
    pytest.param(line(article(9, views=[[[[[[1]]]]]])), "views must be", id="nested-views"),
    pytest.param(
        line(article(9, published_at="0001-01-01T00:00:00")), "out of range", id="year-1-local"
    ),
    pytest.param(
        line(article(9, published_at="9999-12-31T23:59:59-05:00")), "out of range", id="y9999"
    ),
    pytest.param(
        line(article(9, updated_at="0001-01-01T03:00:00+08:00")), "updated_at is out", id="upd"
    ),
    pytest.param(
        line(article(9, published_at="9999-12-31T20:00:00Z")), "out of range", id="y9999-utc"
    ),
    pytest.param(line(article(9, title="长" * 1001)), "title is longer than", id="long-title"),
    pytest.param(
        line(article(9, url="https://news.example.cn/" + "a" * 3000)), "url is longer", id="url"
    ),
    pytest.param(line(article(9, published_at=5)), "published_at must be", id="date-number"),
    pytest.param('{"a": 1, "a": NaN}', "unknown field", id="nan-unknown"),
    pytest.param(line(article(9, views=1.5)), "views must be a whole number", id="float-views"),
    pytest.param(
        json.dumps(article(9, authors=["文字:\ud800"])), "lone surrogate", id="surrogate-list"
    ),
    pytest.param('"just a string"', "not a JSON object", id="string"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("bad", "reason"), HOSTILE)
def test_a_hostile_row_is_reported_by_line_and_the_good_rows_kept(
    site: Path, capsys: pytest.CaptureFixture[str], bad: str, reason: str
) -> None:
    lines = [line(article(n)) for n in range(1, 4)] + [bad] + [line(article(n)) for n in (5, 6)]
    assert run(site, lines) == 1
    captured = capsys.readouterr()
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("line 4: "), captured.err
    assert reason in err_lines[0]
    assert len(err_lines[0]) < 300
    assert "5 new" in captured.out and "1 bad" in captured.out
    assert set(stored(site)) == urls(1, 2, 3, 5, 6)


@pytest.mark.slow
def test_times_at_the_edges_of_the_range_are_kept(site: Path) -> None:
    rows = [
        line(article(1, published_at="0001-01-02T00:00:00Z")),
        line(article(2, published_at="9999-12-30T00:00:00+00:00")),
        line(article(3, views=2**31 - 1, updated_at="2020-02-01T00:00:00+08:00")),
    ]
    assert run(site, rows) == 0
    kept = {a.url: a for a in stored(site).values()}
    assert kept["https://news.example.cn/a/1.html"].published_at.year == 1
    assert kept["https://news.example.cn/a/2.html"].published_at.year == 9999
    assert kept["https://news.example.cn/a/3.html"].views == 2**31 - 1


def test_a_repeated_url_is_reported_and_the_later_row_wins(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        line(article(1, title="first")),
        line(article(2)),
        line(article(1, title="second")),
        line(article(1, title="third")),
    ]
    assert run(site, rows, "--batch-size", "2") == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "line 3: same url as line 1; the later row wins",
        "line 4: same url as line 3; the later row wins",
    ]
    assert stored(site)["https://news.example.cn/a/1.html"].title == "third"


@pytest.mark.slow
def test_invalid_utf8_and_a_giant_line_are_reported_and_the_rest_kept(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pressroom.incoming.MAX_LINE_BYTES", 4096)
    source = site / "in.jsonl"
    good = [line(article(n)).encode() for n in (1, 2, 3)]
    giant = b'{"title": "' + b"x" * 20_000 + b'"}'
    source.write_bytes(b"\n".join([good[0], b'{"title": "\xff"}', giant, good[1], good[2]]))
    assert main(["--config", str(site / "pressroom.toml"), "import", str(source)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "line 2: not valid UTF-8 (byte 0xff at byte 12)"
    assert err[1] == "line 3: longer than 16 MB"
    assert set(stored(site)) == urls(1, 2, 3)


@pytest.mark.slow
@pytest.mark.parametrize("debug", [False, True])
def test_a_row_the_database_refuses_is_found_by_bisection_without_sql_in_the_message(
    site: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    debug: bool,
) -> None:
    # A NUL that slipped past the parser's checks (as a future field might): the
    # database refuses the row (PostgreSQL) or a constraint does (SQLite); bisection
    # finds it, the 199 others are stored.
    monkeypatch.setattr("pressroom.importer._check_texts", lambda data: None)
    monkeypatch.setattr("pressroom.importer._MAX_URL_BYTES", 10**6)

    real = upsert_articles

    def refusing(conn: Connection, rows: Any, now: Any) -> Any:
        if any("\x00" in r["title"] for r in rows) and conn.dialect.name == "sqlite":
            statement = "INSERT INTO sections (slug, name) VALUES (?, NULL)"
            conn.exec_driver_sql(statement, (SECRET_ADDRESS,))
        return real(conn, rows, now)

    monkeypatch.setattr("pressroom.importer.upsert_articles", refusing)
    rows = [line(article(n)) for n in range(200)]
    rows[137] = line(article(137, title="bad\x00title"))
    assert run(site, rows, "--batch-size", "64", debug=debug) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("line 138: the store refused the row ("), err
    for leak in ("SELECT", "INSERT", "[SQL", "parameters", SECRET_ADDRESS, "Traceback"):
        assert leak not in captured.err and leak not in captured.out
    assert len(stored(site)) == 199


def test_a_store_failure_stops_with_one_sentence(
    sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    from pressroom.errors import StoreError

    def failing(conn: Connection, part: Any) -> None:
        conn.exec_driver_sql("PRAGMA query_only = ON")
        try:
            conn.exec_driver_sql("CREATE TABLE x (secret TEXT)")
        finally:
            conn.exec_driver_sql("PRAGMA query_only = OFF")

    with pytest.raises(StoreError) as caught:
        write_bisecting(sqlite_store, [1, 2, 3, 4], failing, lambda item, why: None)
    message = str(caught.value)
    assert "read-only" in message or "readonly" in message  # the store, not the rows
    assert "CREATE" not in message and "[SQL" not in message and "\n" not in message


def test_import_lines_takes_numbered_raw_lines(sqlite_store: Store) -> None:
    from pressroom.importer import RowParser
    from pressroom.models import Section
    from pressroom.store.articles import sync_sections

    with sqlite_store.write() as conn:
        sync_sections(conn, [Section("s", "S")])
    parser = RowParser({"s": "s"}, NOW.tzinfo)  # type: ignore[arg-type]
    bad: list[str] = []
    lines = [(1, line(article(1, section="s")).encode()), (2, None), (3, b"\n")]
    report = import_lines(sqlite_store, iter(lines), parser, lambda: NOW, report_bad=bad.append)
    assert (report.rows, report.bad, report.counts.inserted) == (2, 1, 1)
    assert bad == ["line 2: longer than 16 MB"]
    with pytest.raises(ImportRowError, match="nested too deeply"):
        parser.parse("[" * 200_000)


@pytest.mark.slow
def test_parsing_in_a_helper_process_gives_the_same_outcome(sqlite_store: Store) -> None:
    from pressroom.importer import RowParser
    from pressroom.models import Section
    from pressroom.store.articles import sync_sections

    with sqlite_store.write() as conn:
        sync_sections(conn, [Section("s", "S")])
    parser = RowParser({"s": "s"}, NOW.tzinfo)  # type: ignore[arg-type]
    rows = [line(article(n, section="s")).encode() + b"\n" for n in range(40)]
    rows[5] = b'{"views": 1e999}\n'
    rows[9] = rows[3]
    outcomes = []
    for background in (False, True):
        bad: list[str] = []
        report = import_lines(
            sqlite_store, iter(enumerate(rows, 1)), parser, lambda: NOW,
            batch_size=6, report_bad=bad.append, background=background,
        )  # fmt: skip
        outcomes.append((report.summary(), bad))
    assert outcomes[0][1] == outcomes[1][1]
    assert outcomes[0][1][0].startswith("line 6: ")
    assert outcomes[0][1][1] == "line 10: same url as line 4; the later row wins"
    tail = "1 repeated url (the later row won), 1 bad rows skipped"
    assert outcomes[0][0] == f"40 rows: 38 new, 0 updated, 1 unchanged, {tail}"
    assert outcomes[1][0] == f"40 rows: 0 new, 0 updated, 39 unchanged, {tail}"
