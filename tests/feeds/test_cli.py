"""``pressroom feeds build`` on a real config and store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from feedkit import load_rows, make_settings, row
from hubkit import running_hub

from pressroom.cli import main
from pressroom.store.engine import open_store


def test_feeds_build_prints_what_it_wrote_then_what_it_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    load_rows(store, [row(1, "shehui"), row(2, "tiyu")])
    store.dispose()
    config = str(tmp_path / "pressroom.toml")
    assert main(["--config", config, "feeds", "build"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert "wrote   shehui/rss.xml" in first and "wrote   index.html" in first
    assert first[-1].startswith("feeds: 11 written, 0 kept, 0 removed (3 feeds")
    assert (tmp_path / "public" / "tiyu" / "atom.xml").is_file()
    assert main(["--config", config, "feeds", "build"]) == 0
    second = capsys.readouterr().out.splitlines()
    assert "kept    11 unchanged files" in second
    assert second[-1].startswith("feeds: 0 written, 11 kept, 0 removed")
    assert main(["--config", config, "feeds", "build", "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("feeds: 0 written, 11 kept")


@pytest.mark.slow
def test_feeds_build_waits_for_the_hubs_and_says_how_each_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: a hub that is down
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}/hub"
    hub, server = running_hub()
    with server:
        settings = make_settings(tmp_path, websub_hub=[hub.hub_url, down])
        store = open_store(settings.store_url)
        load_rows(store, [row(1, "shehui")])
        store.dispose()
        assert main(["--config", str(tmp_path / "pressroom.toml"), "feeds", "build"]) == 0
        # the command returned after the pings: the hub has every changed feed already
        told = len(hub.published_urls())
    out, err = capsys.readouterr()
    assert told == 6  # all/ and shehui/, three formats each
    assert f"websub   {hub.hub_url}: told of 6 changed feed(s)" in out.splitlines()
    assert f"pressroom: websub: {down} was not told of 6 changed feed(s) (Connect" in err


def test_an_output_dir_that_is_a_file_is_one_sentence(tmp_path: Path) -> None:
    """Every feed's worker used to print its own traceback (24 on the demo site)."""
    settings = make_settings(tmp_path)
    store = open_store(settings.store_url)
    load_rows(store, [row(1, "shehui"), row(2, "tiyu")])
    store.dispose()
    (tmp_path / "public").write_text("not a folder\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    config = str(tmp_path / "pressroom.toml")
    done = subprocess.run(
        [sys.executable, "-m", "pressroom", "--config", config, "feeds", "build"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "public" in line and "Not a directory" in line
