"""The fast tier stays fast: the conftest fails an unmarked test past ``--slow-budget``, and
``-n auto`` runs one test file in-process but a folder on two workers per core.

Each case runs a real ``pytest`` process on a throw-away test file beside a copy of
``tests/conftest.py``, so the hooks load as they do in the suite (after pytest-xdist's own).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SAMPLE = """
import time
import pytest

def test_quick():
    pass

def test_dawdles():
    time.sleep(1.0)

@pytest.mark.slow
def test_marked_slow():
    time.sleep(0.6)
"""


ALONE = """
import time
import pytest

def spend(name):
    start = time.time()
    time.sleep(0.5)
    with open("spans.txt", "a") as spans:
        spans.write(f"{name} {start} {time.time()}\\n")

@pytest.mark.alone
def test_alone():
    spend("alone")

@pytest.mark.parametrize("n", range(6))
def test_other(n):
    spend(f"other{n}")
"""


def run_pytest(folder: Path, *args: str, sample: str = SAMPLE) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    slow: slow\n    alone: alone\n", "utf-8"
    )
    (folder / "test_sample.py").write_text(sample, "utf-8")
    shutil.copy(TESTS / "conftest.py", folder / "conftest.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS / "kits")])}
    env.pop("PYTEST_XDIST_AUTO_NUM_WORKERS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-c", str(folder / "pytest.ini"), "--rootdir", str(folder), *args],
        cwd=folder, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.mark.slow  # a pytest process that imports pressroom
def test_an_unmarked_test_over_the_budget_fails(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "--slow-budget=0.02", "-n", "auto", "test_sample.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout
    assert "test_sample.py::test_dawdles took " in result.stdout
    assert "mark it @pytest.mark.slow" in result.stdout
    assert "workers" not in result.stdout  # one file: in-process


@pytest.mark.slow
def test_the_budget_can_be_turned_off_and_a_folder_gets_workers(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "--slow-budget=0", "-n", "auto", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert f"{2 * len(os.sched_getaffinity(0))} workers" in result.stdout


@pytest.mark.slow
def test_no_other_test_runs_beside_one_marked_alone(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-n", "3", str(tmp_path), sample=ALONE)
    assert result.returncode == 0, result.stdout + result.stderr
    spans = {}
    for line in (tmp_path / "spans.txt").read_text("utf-8").splitlines():
        name, start, end = line.split()
        spans[name] = (float(start), float(end))
    alone_start, alone_end = spans.pop("alone")
    assert len(spans) == 6
    for start, end in spans.values():
        assert end <= alone_start or start >= alone_end, (spans, alone_start, alone_end)
