"""Every command's failure is one sentence on stderr, without ``--debug`` (issue 10, 11).

Each command runs as a real process against a broken store (a malformed URL, a server
that refuses connections, a SQLite file another process holds with ``BEGIN IMMEDIATE``
longer than the busy timeout) or a broken output folder (a read-only and a full tmpfs,
mounted here when the test runs as root; a read-only folder by file mode otherwise), and
against export and preview paths that cannot be written. Each must exit non-zero with one
line on stderr: no traceback, no ``internal error``, no SQL, no password.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support import toml_text, yesterday

from pressroom.cli import main

PASSWORD = "hunter2-not-to-be-printed"
SECRET = "cli-failures-secret-0123456789-abcdefghij"
SQL = re.compile(
    r"\[SQL|\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bDELETE FROM\b|BEGIN IMMEDIATE|parameters:"
)
NORMAL_LOG = re.compile(r"^(\S+ \S+ )?(INFO|DEBUG) ")
"""`run` logs a line per job run as it goes; those are not failures."""
JOB_FAILED = re.compile(r" ERROR pressroom\.worker: \w+ job \S+ failed ")

STORE_COMMANDS: dict[str, list[str]] = {
    "init": ["init", "{site}"],
    "demo": ["demo", "{site}"],
    "import": ["import", "{site}/rows.jsonl"],
    "feeds build": ["feeds", "build", "--force"],
    "digest preview": ["digest", "preview", "--out", "{site}/preview.html"],
    "digest send": ["digest", "send"],
    "subscribers add": ["subscribers", "add", "new@example.com"],
    "subscribers remove": ["subscribers", "remove", "a@example.com"],
    "subscribers list": ["subscribers", "list"],
    "subscribers import": ["subscribers", "import", "{site}/people.csv"],
    "subscribers export": ["subscribers", "export", "{site}/export.csv"],
    "run --once": ["run", "--once"],
    "run": ["run"],
    "status": ["status"],
    "serve": ["serve", "--port", "0"],
}
"""Every command that opens the store, with arguments that would succeed on a good one."""

WRITING_COMMANDS: dict[str, list[str]] = {
    "init": ["init", "{out}/site"],
    "demo": ["demo", "{out}/demo"],
    "feeds build": ["feeds", "build", "--force"],
    "digest send": ["digest", "send"],
    "digest send --to": ["digest", "send", "--to", "copy@example.com"],
    "digest preview --out": ["digest", "preview", "--out", "{out}/preview.html"],
    "subscribers export": ["subscribers", "export", "{out}/export.csv"],
    "run --once": ["run", "--once"],
}
"""Every command that writes into the output folder (feeds, outbox, files it is given)."""


def site_config(store_url: str, *, sections: bool = True) -> str:
    tables: dict[str, dict[str, object]] = {
        "site": {"name": "测试新闻", "postal_address": "北京市 1 号"},
        "store": {"url": store_url, "busy_timeout": 0.5},
        "feeds": {"output_dir": "public"},
        "mail": {"outbox": "outbox", "from_address": "news@example.com"},
        "web": {"secret": SECRET, "public_url": "http://127.0.0.1:8080/"},
    }
    extra = '[[sections]]\nslug = "yaowen"\nname = "要闻"\nweight = 1.0\n' if sections else ""
    return toml_text(tables) + extra


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small working site: two important articles (yesterday, the day before), two subscribers."""
    site = tmp_path_factory.mktemp("template") / "site"
    site.mkdir()
    (site / "pressroom.toml").write_text(site_config("sqlite:///pressroom.db"), "utf-8")
    (site / "nosections.toml").write_text(
        site_config("sqlite:///pressroom.db", sections=False), "utf-8"
    )
    # `run --once` before 07:00 sends the period of yesterday's 07:00 (the day before
    # yesterday's articles); `digest send` today's (yesterday's): one article for each
    rows = [
        {
            "url": f"https://x.example.cn/{n}.html",
            "section": "yaowen",
            "title": "头条",
            "published_at": f"{yesterday() - timedelta(days=n - 1, hours=1):%Y-%m-%dT%H:%M:%SZ}",
            "priority": "headline",
            "views": 30000,
        }
        for n in (1, 2)
    ]
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (site / "rows.jsonl").write_text(lines, "utf-8")
    (site / "people.csv").write_text("email\nz@example.com\n", "utf-8")
    config = str(site / "pressroom.toml")
    assert main(["--config", config, "import", str(site / "rows.jsonl")]) == 0
    for email in ("a@example.com", "b@example.com"):
        assert main(["--config", config, "subscribers", "add", email]) == 0
    return site


@pytest.fixture
def site(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(template, copy)
    return copy


def pressroom(
    site: Path, args: list[str], *, config: str = "pressroom.toml", **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "pressroom", "--config", str(site / config), *args],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=90,
        env={**clean, **env},
        check=False,
    )


def assert_one_sentence(done: subprocess.CompletedProcess[str], *, code: int | None = None) -> str:
    """The command failed, with one line on stderr and nothing a user should not see.

    `run --once` runs every job and logs one line per job that failed: each is one line.
    """
    err = done.stderr
    assert done.returncode != 0, f"expected a failure, got exit 0: {done.stdout}{err}"
    if code is not None:
        assert done.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not SQL.search(err), err
    assert PASSWORD not in err + done.stdout
    problems = [line for line in err.splitlines() if line.strip() and not NORMAL_LOG.match(line)]
    if len(problems) > 1 and all(JOB_FAILED.search(line) for line in problems):
        return problems[0]
    assert len(problems) == 1, err
    return problems[0]


def expand(args: list[str], **places: Path) -> list[str]:
    return [arg.format(**{k: str(v) for k, v in places.items()}) for arg in args]


# ---------------------------------------------------------------- a broken store


@pytest.mark.slow
@pytest.mark.parametrize("command", ["config check", *STORE_COMMANDS])
def test_a_malformed_store_url(site: Path, command: str) -> None:
    """A port that is not a number: a config error naming the setting (exit 2)."""
    args = ["config", "check"] if command == "config check" else STORE_COMMANDS[command]
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:54x32/test"
    done = pressroom(site, expand(args, site=site / "new"), PRESSROOM_STORE__URL=url)
    line = assert_one_sentence(done, code=2)
    assert "store.url" in line and "port" in line and "postgres:***@" in line


@pytest.mark.slow
@pytest.mark.parametrize("command", list(STORE_COMMANDS))
def test_a_store_that_refuses_connections(site: Path, command: str) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/test"
    done = pressroom(site, expand(STORE_COMMANDS[command], site=site / "new"),
                     PRESSROOM_STORE__URL=url)  # fmt: skip
    line = assert_one_sentence(done, code=1)
    assert "cannot reach the store postgresql+psycopg://postgres:***@127.0.0.1:1/test" in line


@pytest.fixture
def locked(site: Path) -> Iterator[Path]:
    """Another process holds the SQLite store's write lock (BEGIN IMMEDIATE) throughout."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "conn.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(600)\n",
            str(site / "pressroom.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield site
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize("command", list(STORE_COMMANDS))
def test_a_locked_store(locked: Path, command: str) -> None:
    """Longer than the busy timeout (0.5 s here): one sentence saying so, exit 1."""
    done = pressroom(locked, expand(STORE_COMMANDS[command], site=locked))
    line = assert_one_sentence(done, code=1)
    assert "is locked by another process (waited 0.5 s)" in line


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    ["import", "feeds build", "digest send", "subscribers add", "subscribers remove",
     "subscribers import", "run --once"],
)  # fmt: skip
def test_a_store_locked_in_the_middle_of_the_work(locked: Path, command: str) -> None:
    """Without sections to sync at start, the store opens (reads pass under WAL) and the
    lock is met by the command's own writes, deeper in: still one sentence."""
    done = pressroom(locked, expand(STORE_COMMANDS[command], site=locked),
                     config="nosections.toml")  # fmt: skip
    line = assert_one_sentence(done, code=1)
    assert "locked" in line


# ---------------------------------------------------------------- broken output folders


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs, or a folder without write permission when not root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if _mount_tmpfs(folder, "1m"):
        remount = ["mount", "-o", "remount,ro", str(folder)]
        subprocess.run(remount, check=True, capture_output=True)
        try:
            yield folder
        finally:
            _umount(folder)
    elif os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
    else:
        pytest.skip("root ignores file modes and `mount -t tmpfs` is not permitted here")


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs filled to the last byte."""
    folder = tmp_path / "full"
    folder.mkdir()
    if not _mount_tmpfs(folder, "256k"):
        pytest.skip("a full folder needs `mount -t tmpfs` (root in a permissive container)")
    try:
        with open(folder / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        yield folder
    finally:
        _umount(folder)


def _output_env(out: Path) -> dict[str, str]:
    return {"PRESSROOM_FEEDS__OUTPUT_DIR": str(out), "PRESSROOM_MAIL__OUTBOX": str(out)}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(WRITING_COMMANDS))
def test_a_read_only_output_folder(site: Path, read_only_folder: Path, command: str) -> None:
    args = expand(WRITING_COMMANDS[command], out=read_only_folder)
    line = assert_one_sentence(pressroom(site, args, **_output_env(read_only_folder)))
    assert str(read_only_folder) in line
    assert re.search(r"Read-only file system|Permission denied", line), line


@pytest.mark.slow
@pytest.mark.parametrize("command", list(WRITING_COMMANDS))
def test_a_full_output_folder(site: Path, full_folder: Path, command: str) -> None:
    args = expand(WRITING_COMMANDS[command], out=full_folder)
    line = assert_one_sentence(pressroom(site, args, **_output_env(full_folder)))
    assert str(full_folder) in line and "No space left on device" in line, line


@pytest.mark.slow
def test_a_send_into_a_refusing_outbox_leaves_the_rows_queued(
    site: Path, read_only_folder: Path
) -> None:
    """The run halts (nothing marked failed or uncertain) and the next send resumes it."""
    line = assert_one_sentence(pressroom(site, ["digest", "send"], **_output_env(read_only_folder)))
    assert "2 deliveries stay queued for a resume" in line
    again = pressroom(site, ["digest", "send"])
    assert again.returncode == 0, again.stderr
    assert "sent 2, failed 0, uncertain 0" in again.stdout
    assert len(list((site / "outbox").glob("*.eml"))) == 2


# ---------------------------------------------------------------- paths it is given


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["subscribers", "export", "{site}/no/such/folder/x.csv"], "No such file or directory"),
        (["subscribers", "export", "{site}/public"], "Is a directory"),
        (["digest", "preview", "--out", "{site}/no/such/folder/p.html"], "No such file"),
    ],
)
def test_an_unwritable_export_or_preview_path(site: Path, args: list[str], reason: str) -> None:
    (site / "public").mkdir(exist_ok=True)
    line = assert_one_sentence(pressroom(site, expand(args, site=site)), code=1)
    assert line.startswith("pressroom: error: cannot write the ") and reason in line


# ---------------------------------------------------------------- the store's own disk


@pytest.mark.slow
@pytest.mark.parametrize("command", ["status", "feeds build", "subscribers add", "import"])
def test_a_store_on_a_read_only_or_full_disk(site: Path, tmp_path: Path, command: str) -> None:
    """The SQLite file itself on a read-only and on a full tmpfs: one sentence each."""
    for kind in ("read-only", "full"):
        folder = tmp_path / kind
        folder.mkdir()
        if not _mount_tmpfs(folder, "2m"):
            pytest.skip("needs `mount -t tmpfs` (root in a permissive container)")
        try:
            shutil.copyfile(site / "pressroom.db", folder / "pressroom.db")
            if kind == "read-only":
                subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            else:
                with open(folder / "filler", "wb", buffering=0) as filler:
                    try:
                        while True:
                            filler.write(b"\0" * 4096)
                    except OSError:
                        pass
            url = f"sqlite:///{folder / 'pressroom.db'}"
            args = expand(STORE_COMMANDS[command], site=site)
            line = assert_one_sentence(pressroom(site, args, PRESSROOM_STORE__URL=url), code=1)
            assert f"the store {url}" in line or f"cannot open the store {url}" in line, line
        finally:
            _umount(folder)
