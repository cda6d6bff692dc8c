"""One job model: only :mod:`pressroom.worker.recording` writes ``job_runs``, and only the
job registry tells the job kinds apart. Both are read from the source (its AST), so a
new module that records a run its own way, or branches on a kind, fails here."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import cast

import pytest

import pressroom
from pressroom.models import JobKind
from pressroom.worker.registry import (
    WorkerConfig,
    job_for,
    manual_job,
    source_job,
    watch_job,
)

PACKAGE = Path(pressroom.__file__).parent
RUN_WRITERS = {"start_run", "finish_run", "record_skipped", "beat_runs", "abandon_runs"}
RECORDING = {"worker/recording.py", "store/runs.py"}
KIND_TABLES = {"job_kinds.py", "worker/registry.py"}


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def run_writer_uses(tree: ast.Module) -> list[str]:
    """The store's run writers a module names: ``runs.start_run(...)``, or imported."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in RUN_WRITERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "runs"
        ):
            found.append(f"runs.{node.attr}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("store.runs"):
            found += [alias.name for alias in node.names if alias.name in RUN_WRITERS]
    return found


def kind_comparisons(tree: ast.Module) -> list[int]:
    """Lines that compare something with a ``JobKind`` member (``x is JobKind.DIGEST``)."""

    def is_member(node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "JobKind"
        )

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and any(map(is_member, [node.left, *node.comparators]))
    ]


def test_only_the_recording_module_writes_job_runs() -> None:
    writers = {name: uses for name, tree in _modules() if (uses := run_writer_uses(tree))}
    assert set(writers) <= RECORDING, writers
    assert "worker/recording.py" in writers  # the scan sees the one module that writes


def test_only_the_job_registry_tells_the_kinds_apart() -> None:
    branching = {name: lines for name, tree in _modules() if (lines := kind_comparisons(tree))}
    assert set(branching) <= KIND_TABLES, branching


@pytest.mark.parametrize(
    "source",
    [
        "from pressroom.store import runs\nruns.finish_run(conn, 1)",
        "from pressroom.store.runs import beat_runs",
        "from pressroom.store import runs\nwith store.write() as c: runs.record_skipped(c)",
    ],
)
def test_the_scan_finds_a_planted_run_writer(source: str) -> None:
    assert run_writer_uses(ast.parse(source))


def test_the_scan_finds_a_planted_kind_branch() -> None:
    assert kind_comparisons(ast.parse("if s.job is JobKind.DIGEST:\n    pass")) == [1]
    assert kind_comparisons(ast.parse("if s.job == 'digest':\n    pass")) == []


def test_every_kind_has_a_job_and_rules() -> None:
    from pressroom.config import ScheduleSettings

    for kind in JobKind:
        if kind is JobKind.SOURCES:  # one job per [sources.<name>], on its own interval
            job = source_job("blog")
            assert (job.kind, job.name, job.rules.kind, job.schedule) == (kind, "blog", kind, None)
            assert job.lease is not None
            assert job.lease(cast(WorkerConfig, None)) == "source:blog"
            continue
        job = job_for(ScheduleSettings(name=f"every-{kind}", job=kind, cron="0 * * * *"))
        assert (job.kind, job.name, job.rules.kind) == (kind, f"every-{kind}", kind)
        assert manual_job(kind).schedule is None
    assert (watch_job().name, watch_job().kind) == ("watch", JobKind.FEEDS)
