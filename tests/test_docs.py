"""The docs cannot drift from the code (in the spirit of Datasette's ``tests/test_docs.py``).

- ``docs/reference/*.md`` are what ``python -m pressroom.docs_reference`` writes now, and
  every config key has a description for them to show;
- every relative link of the README, ``docs/`` and ``benchmarks/README.md`` reaches a file,
  and its ``#anchor`` a heading of that file;
- every module path and dotted name ``docs/ARCHITECTURE.md`` mentions resolves in the code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import FunctionType, ModuleType

import pytest

import pressroom
from pressroom import docs_reference

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / docs_reference.REFERENCE_DIR
REGENERATE = "python -m pressroom.docs_reference"


# ---------------------------------------------------------------- generated reference pages


@pytest.mark.parametrize("name", sorted(docs_reference.reference_files()))
def test_reference_page_is_what_the_generator_writes(name: str) -> None:
    committed = (REFERENCE / name).read_text(encoding="utf-8")
    assert committed == docs_reference.reference_files()[name], (
        f"docs/reference/{name} is out of date: run `{REGENERATE}` and commit the result"
    )


def test_every_config_key_has_a_description() -> None:
    keys = docs_reference.config_keys()
    missing = [key.path for key in keys if not key.description.strip()]
    assert len(keys) > 50  # the walk reached the nested tables
    assert not missing, f"add Field(description=...) in pressroom/config.py to: {missing}"


def test_the_generator_writes_then_accepts_its_pages(tmp_path: Path) -> None:
    assert docs_reference.main(["--out", str(tmp_path), "--check"]) == 1  # nothing there yet
    assert docs_reference.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.md", "config.md"]
    assert docs_reference.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "cli.md").write_text("stale\n", encoding="utf-8")
    assert docs_reference.main(["--out", str(tmp_path), "--check"]) == 1


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_the_cli_reference_names_every_command_and_option() -> None:
    from pressroom.cli import build_parser

    page = docs_reference.render_cli_reference()
    commands = list(_commands(build_parser()))
    assert len(commands) > 20
    for path, parser in commands:
        heading = f"## `{' '.join(('pressroom', *path))}`"
        section = page.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        for action in parser._actions:
            for option in action.option_strings:
                assert option == "-h" or option == "--help" or f"`{option}" in section, (
                    heading,
                    option,
                )


# ---------------------------------------------------------------- links


def _markdown_files() -> list[Path]:
    return [
        ROOT / "README.md",
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
    ]


_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """``text`` without code blocks and inline code (a link inside them is an example)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _links(text: str) -> list[str]:
    # inline code inside a link's text (``[`x`](y)``) keeps its link: drop the code, not ](
    return _LINK.findall(_FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def _anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def _relative_links() -> Iterator[tuple[Path, str]]:
    for path in _markdown_files():
        for target in _links(path.read_text(encoding="utf-8")):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto: ...
                yield path, target


def test_there_are_links_to_check() -> None:
    assert len(list(_relative_links())) > 40


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for source, target in _relative_links():
        if source != path:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (source.parent / file_part).resolve() if file_part else source
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: {broken}"


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.DOTALL)
    assert len(readme.splitlines()) <= 120
    assert readme.index("```sh") < readme.index("\n## ")
    assert "pressroom demo" in blocks[0]
    assert blocks[1] in ci.splitlines(), ".ci/run must run the README's test command exactly"


# ---------------------------------------------------------------- docs/ARCHITECTURE.md


ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_MODULE_PATH = re.compile(r"^(?:pressroom/)?((?:[a-z_]+/)*[a-z_]+\.py)$")
_DOTTED = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(.*)?$")
_PACKAGE_CONTEXT = re.compile(r"^(?:Also: )?`([a-z_]+)/`|^Top level \(`pressroom/`\)")
_PLACEHOLDER = re.compile(r"^Say an? [\w ]*?`(\w+)`")
"""``Say a new format `foo` ...``: the how-to sections name a made-up module."""
_NOT_CODE = re.compile(r"\.(py|toml|j2|json|xml|html|opml|md|txt|yml)$")


@cache
def _modules() -> dict[str, ModuleType]:
    """Every module of the package by its full name (imported)."""
    found = {"pressroom": pressroom}
    for info in pkgutil.walk_packages(pressroom.__path__, "pressroom."):
        if ".migrations." in info.name or info.name.endswith(".__main__"):
            continue
        found[info.name] = importlib.import_module(info.name)
    return found


def _camel(word: str) -> str:
    return "".join(part.capitalize() for part in word.split("_"))


def _roots(first: str) -> list[object]:
    """What a reference's first word can name: a module (by its full or short name, or
    relative to the package), a class or function defined in one, or an instance of a class
    by its lower-case name (`store.write()` for `Store.write`)."""
    modules = _modules()
    roots: list[object] = [
        module
        for name, module in modules.items()
        if first in (name.rsplit(".", 1)[-1], name.removeprefix("pressroom."), name)
    ]
    for module in modules.values():
        for word in (first, _camel(first)) if first.islower() else (first,):
            value = vars(module).get(word)
            if isinstance(value, type | FunctionType) and value.__module__ == module.__name__:
                roots.append(value)
    return roots


def _step(value: object, part: str) -> object:
    """``value.part``: an attribute, a submodule, or a field of a dataclass or model
    (``_MISSING`` when there is none)."""
    if hasattr(value, part):
        return getattr(value, part)
    if isinstance(value, ModuleType):
        try:
            return importlib.import_module(f"{value.__name__}.{part}")
        except ImportError:
            return _MISSING
    fields = getattr(value, "__dataclass_fields__", None) or getattr(value, "model_fields", {})
    return None if part in fields else _MISSING


_MISSING = object()


def _resolves(dotted: str) -> bool:
    first, *rest = dotted.split(".")
    for value in _roots(first):
        for part in rest:
            value = _step(value, part)
            if value is _MISSING:
                break
        else:
            return True
    return False


def _architecture_references() -> tuple[list[Path], list[str]]:
    """(module paths, dotted names of our code) the architecture doc mentions.

    A bare ``name.py`` is read in its package's context: the table or paragraph after
    the line "`store/`: ..." names ``pressroom/store/...``; under "Tests", paths are the tests'.
    """
    paths: list[Path] = []
    names: list[str] = []
    package, base, placeholders = "", "pressroom", set()
    text = _FENCE.sub("", ARCHITECTURE.read_text(encoding="utf-8"))
    for line in text.splitlines():
        if line.startswith("#"):
            package, base = "", "tests" if line.strip("# ").startswith("Tests") else "pressroom"
        if _PLACEHOLDER.match(line):
            placeholders.add(_PLACEHOLDER.match(line).group(1))  # type: ignore[union-attr]
        if _PACKAGE_CONTEXT.match(line):
            package = _PACKAGE_CONTEXT.match(line).group(1) or ""  # type: ignore[union-attr]
        for span in _CODE_SPAN.findall(line):
            for word in (w.strip() for w in span.split(",")):
                if any(p in re.split(r"\W", word) for p in placeholders):
                    continue
                path = _MODULE_PATH.match(word)
                if path:
                    if word.startswith(("pressroom/", "tests/")):
                        paths.append(Path(word))
                    elif "/" in word or package or line.startswith("|"):
                        inside = package if package != base and "/" not in word else ""
                        paths.append(Path(base, inside, word))
                    continue
                dotted = _DOTTED.match(word)
                if dotted and not _NOT_CODE.search(word) and _roots(word.split(".", 1)[0]):
                    names.append(dotted.group(1))
    return paths, names


def test_architecture_doc_names_only_what_exists() -> None:
    paths, names = _architecture_references()
    assert len(paths) > 50 and len(names) > 10  # the doc was read
    missing_paths = sorted({str(p) for p in paths if not (ROOT / p).is_file()})
    missing_names = sorted({n for n in names if not _resolves(n)})
    assert not missing_paths and not missing_names, (
        f"docs/ARCHITECTURE.md names modules that do not exist: {missing_paths}; "
        f"and names that do not resolve: {missing_names}"
    )
