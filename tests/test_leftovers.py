"""The kit that ends what a test leaves behind (tests/conftest.py, ``_nothing_left_behind``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import leftovers
from sqlalchemy import create_engine, text


def test_a_child_left_running_is_found_killed_waited_for_and_its_pipe_closed() -> None:
    before = leftovers.children()
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE
    )
    left = leftovers.children() - before
    assert left == {child.pid}
    running = leftovers.end_children(left)
    assert len(running) == 1 and "time.sleep(60)" in running[0]
    assert child.returncode is not None and child.stdout is not None and child.stdout.closed
    assert leftovers.children() - before == set()


def test_a_child_that_ended_is_not_reported_as_running() -> None:
    before = leftovers.children()
    child = subprocess.Popen([sys.executable, "-c", "pass"], stdout=subprocess.PIPE)
    child.wait()  # ended and waited for, but its pipe left open
    assert leftovers.end_children(leftovers.children() - before | {child.pid}) == []
    assert child.stdout is not None and child.stdout.closed


def test_the_engines_a_test_connected_with_are_listed(tmp_path: Path) -> None:
    idle = create_engine(f"sqlite:///{tmp_path / 'idle.db'}")
    with leftovers.engines_used() as used:
        engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert set(used) == {engine}
    engine.dispose()
    idle.dispose()


def test_multiprocessings_own_helpers_are_not_a_tests_leftovers() -> None:
    import multiprocessing

    before = leftovers.children()
    with multiprocessing.get_context("forkserver").Pool(1) as pool:
        assert pool.apply(abs, (-3,)) == 3
    helpers = leftovers.shared_helpers()
    assert helpers and helpers <= leftovers.children()  # they outlive the pool
    assert leftovers.children() - before - helpers == set()
