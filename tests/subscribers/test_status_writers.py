"""One subscriber state machine (issue 18): only ``pressroom/subscribers/`` changes a status.

import-linter's ``protected`` contract stops other packages importing
``store/subscriber_writes.py``; this test also fails when a module outside
``pressroom/subscribers/`` calls one of its writers however it reached it (a re-export, a
module attribute), and when the rules table of ``lifecycle.py``'s docstring, or the copy
the docs show, disagrees with :func:`lifecycle.next_status`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pressroom
from pressroom.models import SubscriberStatus
from pressroom.store import subscriber_writes
from pressroom.subscribers import lifecycle
from pressroom.subscribers.lifecycle import Event, next_status

PACKAGE = Path(pressroom.__file__).parent
DOCS = PACKAGE.parent / "docs"
WRITER_MODULE = subscriber_writes.__name__
WRITERS = frozenset(subscriber_writes.__all__)
ALLOWED = (PACKAGE / "subscribers", PACKAGE / "store" / "subscriber_writes.py")

SUPPRESSED = [s for s in SubscriberStatus if s.suppressed]
SET_BY_OPERATOR = (Event.OPERATOR, Event.RESUBSCRIBE)


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if not node.level:
        return node.module or ""
    parent = module.rsplit(".", node.level)[0]
    return f"{parent}.{node.module}" if node.module else parent


def writer_uses(source: str, module: str) -> list[str]:
    """Where ``source`` (the module named ``module``) reaches a subscriber writer."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name == WRITER_MODULE
            ]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            for alias in node.names:
                if WRITER_MODULE in (base, f"{base}.{alias.name}") or alias.name in WRITERS:
                    found.append(f"line {node.lineno}: from {base} import {alias.name}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in WRITERS:
                found.append(f"line {node.lineno}: calls {name}()")
    return found


def test_no_module_outside_subscribers_writes_a_subscriber() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == allowed or allowed in path.parents for allowed in ALLOWED):
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        offenders += [f"{module}: {use}" for use in writer_uses(path.read_text(), module)]
    assert offenders == [], "change a status through pressroom.subscribers.lifecycle"


@pytest.mark.parametrize(
    "planted",
    [
        "from pressroom.store.subscriber_writes import set_status",
        "from pressroom.store import subscriber_writes\nsubscriber_writes.set_preferences(c, 1)",
        "import pressroom.store.subscriber_writes",
        "from ..store.subscriber_writes import count_bounce",
        "from pressroom.store.somewhere import record_consent_event",
        "import x\nx.update_subscriber(c, 1)",
    ],
)
def test_the_check_finds_a_planted_write(planted: str) -> None:
    assert writer_uses(planted, "pressroom.digest.service") != []


def test_the_check_leaves_reads_alone() -> None:
    source = "from pressroom.store.subscribers import find_subscriber\nfind_subscriber(c, 'a')"
    assert writer_uses(source, "pressroom.digest.service") == []


def table_lines(text: str) -> list[str]:
    """The lines of the rules table (from its ``| From | Event |`` header on)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| From | Event |"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def _statuses(cell: str) -> list[SubscriberStatus | None]:
    held: list[SubscriberStatus | None] = []
    for word in cell.split(", "):
        if word == "(new)":
            held.append(None)
        elif word == "any":
            held += list(SubscriberStatus)
        elif word == "suppressed":
            held += SUPPRESSED
        else:
            held.append(SubscriberStatus(word))
    return held


def test_the_docstring_table_is_what_next_status_does() -> None:
    assert lifecycle.__doc__ is not None
    covered: list[tuple[SubscriberStatus | None, Event]] = []
    for line in table_lines(lifecycle.__doc__)[2:]:
        source, event_cell, to, _ = (cell.strip() for cell in line.strip("|").split("|"))
        event = Event(event_cell.strip("`"))
        for held in _statuses(source):
            covered.append((held, event))
            for given in (
                SubscriberStatus if event in SET_BY_OPERATOR else [SubscriberStatus.ACTIVE]
            ):
                wanted = {"unchanged": held, "S": given}.get(to) or SubscriberStatus(to)
                assert next_status(held, event, given) is wanted, (line, held, given)
    assert len(covered) == len(set(covered)), "a (from, event) pair has two rows"
    new_only = {(None, Event.SUBSCRIBE)} | {(None, e) for e in SET_BY_OPERATOR}
    every = {(s, e) for s in SubscriberStatus for e in Event} | new_only
    assert set(covered) == every
    for event in set(Event) - {e for _, e in new_only}:
        assert next_status(None, event) is None  # needs a subscriber


def test_the_docs_show_the_same_table() -> None:
    assert lifecycle.__doc__ is not None
    rules = table_lines(lifecycle.__doc__)
    showing = [
        path
        for path in sorted(DOCS.rglob("*.md"))
        if re.search(r"^\| From \| Event \|", path.read_text(), re.MULTILINE)
    ]
    assert any(path.name == "ARCHITECTURE.md" for path in showing)
    for path in showing:
        assert table_lines(path.read_text()) == rules, path.name
