"""The subscriber commands end to end (`pressroom subscribers add/import/show/export`), on
SQLite and PostgreSQL: what they print, their exit codes, and no SQL in any message."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from support import make_settings

from pressroom.cli import main
from pressroom.subscribers.bulk_import import OperatorRules

SECTIONS = """
[[sections]]
slug = "shizheng"
name = "时政"
"""
SECRET_ADDRESS = "secret.reader@example.org"


@pytest.fixture
def site(tmp_path: Path, store_url: str) -> Path:
    make_settings(tmp_path, SECTIONS, site={"timezone": "Asia/Shanghai"}, store={"url": store_url})
    return tmp_path


def cli(site: Path, *args: str, debug: bool = False) -> int:
    flags = ["--debug"] if debug else []
    return main([*flags, "--config", str(site / "pressroom.toml"), "subscribers", *args])


def test_add_remove_add_leaves_the_unsubscribed_address_and_says_so(
    site: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert cli(site, "add", "Reader@example.com", "--name", "读者") == 0
    assert "added Reader@example.com (daily, all sections)" in capsys.readouterr().out
    assert cli(site, "remove", "reader@example.com") == 0
    capsys.readouterr()
    assert cli(site, "add", "reader@example.com") == 1
    err = capsys.readouterr().err
    assert err.startswith("Reader@example.com unsubscribed on ")
    assert "; left as it is (--resubscribe to change it)" in err
    assert cli(site, "add", "reader@example.com", "--resubscribe") == 0
    assert "updated Reader@example.com (daily" in capsys.readouterr().out
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warned] == [
        "Reader@example.com was unsubscribed; resubscribed by the operator (--resubscribe)"
    ]
    assert cli(site, "show", "READER@example.com") == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "email: Reader@example.com" and "status: active" in shown
    assert shown[-1].endswith(
        "unsubscribed -> active  by cli (resubscribed by the operator (--resubscribe))"
    )
    assert any(line.endswith("(new) -> active  by cli") for line in shown)


def test_import_prints_lines_and_summary_and_export_with_consent(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = site / "in.csv"
    source.write_bytes(b"email,name\na@example.com,=cmd()\nbad,x\n")
    assert cli(site, "import", str(source)) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("line 3: 'bad' is not a valid e-mail address")
    assert "2 rows: 1 added, 0 updated, 1 bad rows skipped" in out
    target = site / "out.csv"
    assert cli(site, "export", str(target), "--with-consent") == 0
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0][-1] == "consent_history" and rows[1][:2] == ["a@example.com", "'=cmd()"]
    assert '"source":"csv"' in rows[1][-1]
    assert cli(site, "show", "nobody@example.com") == 2
    assert "nobody@example.com is not a subscriber" in capsys.readouterr().err


@pytest.mark.parametrize("debug", [False, True])
def test_a_row_the_store_refuses_is_found_and_no_sql_is_printed(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    real = OperatorRules.apply

    def refusing(self: OperatorRules, conn: Connection, rows: Any) -> Any:
        if any(row.email == "r77@example.com" for _, row in rows):
            statement = "INSERT INTO sections (slug, name) VALUES (%s, NULL)"
            if conn.dialect.name == "sqlite":
                statement = statement.replace("%s", "?")
            conn.exec_driver_sql(statement, (SECRET_ADDRESS,))
        return real(self, conn, rows)

    monkeypatch.setattr(OperatorRules, "apply", refusing)
    source = site / "in.csv"
    source.write_text(
        "email\n" + "".join(f"r{n}@example.com\n" for n in range(150)), encoding="utf-8"
    )
    assert cli(site, "import", str(source), debug=debug) == 1
    captured = capsys.readouterr()
    problems = [line for line in captured.out.splitlines() if line.startswith("line")]
    assert len(problems) == 1
    assert problems[0].startswith("line 79: the store refused the row (")
    for leak in ("INSERT", "[SQL", "parameters", SECRET_ADDRESS, "Traceback"):
        assert leak not in captured.out + captured.err
    assert "150 rows: 149 added" in captured.out


@pytest.mark.slow
def test_import_from_standard_input(site: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pressroom", "--config", str(site / "pressroom.toml"),
         "subscribers", "import", "-"],
        input=b"email,name\nstdin@example.com,S\nbad,x\n",
        capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert b"line 3: 'bad' is not a valid e-mail address" in done.stdout
    assert b"2 rows: 1 added, 0 updated, 1 bad rows skipped" in done.stdout
