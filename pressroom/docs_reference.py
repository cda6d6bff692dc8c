"""Write ``docs/reference/config.md`` and ``docs/reference/cli.md`` from the code.

The config reference walks the pydantic models of :mod:`pressroom.config` (every key, its
type, default, environment variable and ``Field(description=...)``); the CLI reference walks
the argument parser of :func:`pressroom.cli.build_parser`. Regenerate both after changing a
setting or a command::

    python -m pressroom.docs_reference            # writes docs/reference/ (from the repo root)
    python -m pressroom.docs_reference --check    # exit 1 if the committed files are stale

``tests/test_docs.py`` fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pressroom.config import ENV_PREFIX, Settings

__all__ = [
    "REFERENCE_DIR",
    "ConfigKey",
    "config_keys",
    "main",
    "reference_files",
    "render_cli_reference",
    "render_config_reference",
]

REFERENCE_DIR = Path("docs") / "reference"
"""Where the generated pages live, relative to the repository root."""

_REGENERATE = "python -m pressroom.docs_reference"


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One setting as the reference shows it.

    Attributes:
        table: the TOML table it sits in (``mail.smtp``, ``[sections]`` entries as ``sections``).
        name: the key inside its table.
        type_name: the type in words (``int``, ``"rss" | "atom"``, ``secret``).
        default: the default as TOML would spell it, or ``required``.
        env: the environment variable that overrides it, or ``""`` (keys of list entries).
        description: the field's ``description``, or ``""`` when it has none.
    """

    table: str
    name: str
    type_name: str
    default: str
    env: str
    description: str

    @property
    def path(self) -> str:
        """The key's dotted path (``mail.smtp.port``)."""
        return f"{self.table}.{self.name}" if self.table else self.name


def config_keys(model: type[BaseModel] = Settings) -> list[ConfigKey]:
    """Every key of ``model`` and its tables, depth first in declaration order; the tables
    themselves (``site``, ``mail.smtp``) are keys too, so each needs a description."""
    return list(_walk(model, table="", env_prefix=ENV_PREFIX))


def _walk(model: type[BaseModel], *, table: str, env_prefix: str | None) -> Iterator[ConfigKey]:
    for name, field in model.model_fields.items():
        env = f"{env_prefix}{name.upper()}" if env_prefix is not None else ""
        yield ConfigKey(
            table=table,
            name=name,
            type_name=_type_name(field.annotation) + _constraints(field),
            default=_default(field),
            env=env,
            description=field.description or "",
        )
        sub, is_list = _table_model(field.annotation)
        if sub is not None:
            path = f"{table}.{name}" if table else name
            # a list of tables is set from the environment as a whole (JSON), not key by key
            yield from _walk(sub, table=path, env_prefix=None if is_list else env + "__")
        kinds = _named_tables(field.annotation)
        if kinds:
            path = f"{table}.{name}" if table else name
            yield from _walk_kinds(kinds, table=f"{path}.<name>", env_prefix=env + "__<NAME>__")


def _named_tables(annotation: Any) -> list[type[BaseModel]]:
    """The models of a table of named tables (``dict[str, A | B]``: ``[sources.<name>]``)."""
    if get_origin(annotation) is not dict:
        return []
    value = get_args(annotation)[1]
    if get_origin(value) is Annotated:
        value = get_args(value)[0]
    options = get_args(value) if _is_union(value) else (value,)
    return [m for m in options if isinstance(m, type) and issubclass(m, BaseModel)]


def _walk_kinds(
    models: list[type[BaseModel]], *, table: str, env_prefix: str
) -> Iterator[ConfigKey]:
    """The keys of named tables that come in kinds (a ``kind`` field tells them apart): each
    key once, saying which kinds have it when not all do."""
    owners: dict[str, list[tuple[str, FieldInfo]]] = {}
    for model in models:
        kind = str(get_args(model.model_fields["kind"].annotation)[0])
        for name, field in model.model_fields.items():
            owners.setdefault(name, []).append((kind, field))
    for name, owned in owners.items():
        field = owned[0][1]
        kinds = [kind for kind, _ in owned]
        if name == "kind":
            type_name = " | ".join(json.dumps(kind) for kind in kinds)
            description = " ".join(f.description or "" for _, f in owned)
        else:
            type_name = _type_name(field.annotation) + _constraints(field)
            only = "" if len(owned) == len(models) else f"(kind {', '.join(kinds)}) "
            description = only + (field.description or "")
        yield ConfigKey(
            table=table,
            name=name,
            type_name=type_name,
            default=_default(field),
            env=f"{env_prefix}{name.upper()}",
            description=description,
        )


def _table_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (``DkimSettings | None``, ``list[SectionSettings]``), if any."""
    if get_origin(annotation) is list:
        inner, _ = _table_model(get_args(annotation)[0])
        return inner, True
    if _is_union(annotation):
        for arg in get_args(annotation):
            inner, is_list = _table_model(arg)
            if inner is not None:
                return inner, is_list
        return None, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _type_name(annotation: Any) -> str:
    if _is_union(annotation):
        args = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(_type_name(a) for a in args)
        return text + (", optional" if len(args) < len(get_args(annotation)) else "")
    origin = get_origin(annotation)
    if origin is dict and _named_tables(annotation):
        return "tables by name"
    if origin is Literal:
        return " | ".join(json.dumps(value) for value in get_args(annotation))
    if origin is list:
        item = _type_name(get_args(annotation)[0])
        return "list of tables" if item == "table" else f"list of {item}"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        if issubclass(annotation, enum.Enum):
            return " | ".join(json.dumps(member.value) for member in annotation)
        if issubclass(annotation, SecretStr):
            return "secret"
        if issubclass(annotation, Path):
            return "path"
        return annotation.__name__
    return str(annotation)


_BOUNDS = (("ge", ">= {}"), ("gt", "> {}"), ("le", "<= {}"), ("lt", "< {}"))
_LENGTHS = (("min_length", "at least {} characters"), ("max_length", "at most {} characters"))


def _constraints(field: FieldInfo) -> str:
    """The field's bounds in words (``, >= 1, <= 65535``), as validation enforces them."""
    parts = []
    for item in field.metadata:
        for attribute, template in (*_BOUNDS, *_LENGTHS, ("pattern", "matching {}")):
            value = getattr(item, attribute, None)
            if attribute == "min_length" and value == 1:
                parts.append("not empty")
            elif value is not None:
                parts.append(template.format(f"`{value}`" if attribute == "pattern" else value))
    return "".join(f", {part}" for part in parts)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, BaseModel):  # a whole table: its keys are listed under it
        return "see below"
    return _toml(value)


def _toml(value: object) -> str:
    """``value`` as TOML spells it (strings JSON-quoted, which TOML reads the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml(value.value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, BaseModel):
        pairs = (f"{key} = {_toml(item)}" for key, item in value.model_dump().items())
        return "{ " + ", ".join(pairs) + " }"
    return repr(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _default_cell(key: ConfigKey) -> str:
    return key.default if key.default in ("required", "see below") else _code(key.default)


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def render_config_reference() -> str:
    """The Markdown of ``docs/reference/config.md``."""
    out = [
        "# Configuration reference",
        "",
        f"Generated from `pressroom/config.py` by `{_REGENERATE}`; do not edit by hand.",
        "How to write the file, and what `pressroom config check` adds, is in",
        "[configure.md](../configure.md); the commented example is",
        "[`examples/pressroom.toml`](../../examples/pressroom.toml).",
        "",
        "Every key can be set in `pressroom.toml` or overridden from the environment:",
        "`PRESSROOM_` + the key path in capitals with `__` between levels. A list of tables",
        "(`[[sections]]`, `[[schedules]]`) is overridden as a whole, as JSON",
        '(`PRESSROOM_SECTIONS=\'[{"slug": "yaowen", "name": "要闻"}]\'`).',
        "Precedence: environment, then the file, then the defaults.",
    ]
    lists = {key.path for key in config_keys() if key.type_name == "list of tables"}
    by_table: dict[str, list[ConfigKey]] = {}
    for key in config_keys():
        by_table.setdefault(key.table, []).append(key)
    for table, keys in by_table.items():
        title = f"`[[{table}]]`" if table in lists else f"`[{table}]`"
        title = title if table else "Top-level tables"
        out += ["", f"## {title}", ""]
        out += ["| key | type | default | environment | description |", "|---|---|---|---|---|"]
        for key in keys:
            env = _code(key.env) if key.env else "(the whole list)"
            out.append(
                f"| {_code(key.name)} | {_cell(key.type_name)} | {_cell(_default_cell(key))} "
                f"| {env} | {_cell(key.description)} |"
            )
    return "\n".join(out) + "\n"


@contextmanager
def _without_env(name: str) -> Iterator[None]:
    """The parser's ``--config`` default reads ``$PRESSROOM_CONFIG``; the page shows the
    default without it."""
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _parser() -> argparse.ArgumentParser:
    from pressroom.cli import build_parser

    with _without_env("PRESSROOM_CONFIG"):
        return build_parser()


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _shown_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    ]


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None:
        return "{" + ",".join(str(choice) for choice in action.choices) + "}"
    return action.dest.upper()


def _usage_part(action: argparse.Action) -> str:
    if not action.option_strings:
        name = _metavar(action)
        return f"[{name}]" if action.nargs == "?" else name
    option = action.option_strings[-1]
    takes_value = action.nargs != 0
    text = f"{option} {_metavar(action)}" if takes_value else option
    return text if action.required else f"[{text}]"


def _argument_row(action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            name += f" {_metavar(action)}"
    else:
        name = _metavar(action)
    help_text = action.help or ""
    if isinstance(action, argparse._VersionAction):
        help_text = help_text or "print the version and exit"
    if action.choices is not None and action.option_strings:
        help_text = (
            (help_text + "; " if help_text else "")
            + "one of "
            + ", ".join(f"`{choice}`" for choice in action.choices)
        )
    default = action.default
    shown = (
        ""
        if default in (None, "", [], argparse.SUPPRESS) or isinstance(default, bool)
        else _code(str(default))
    )
    return f"| {_code(name)} | {_cell(help_text)} | {shown} |"


def _command_section(path: list[str], parser: argparse.ArgumentParser) -> list[str]:
    actions = _shown_actions(parser)
    subs = _subcommands(parser)
    usage = " ".join(["pressroom", *path, *(_usage_part(a) for a in actions)])
    if subs:
        usage += " " + "{" + ",".join(name for name, _ in subs) + "} ..."
    out = ["", f"## `{' '.join(['pressroom', *path])}`", ""]
    if parser.description:
        sentence = parser.description[0].upper() + parser.description[1:]
        out += [sentence if sentence.endswith(".") else sentence + ".", ""]
    out += ["```", usage, "```"]
    if actions:
        out += ["", "| argument | what it does | default |", "|---|---|---|"]
        out += [_argument_row(action) for action in actions]
    if subs:
        out += ["", "Commands: " + ", ".join(_anchor_link([*path, name]) for name, _ in subs) + "."]
    for name, sub in subs:
        out += _command_section([*path, name], sub)
    return out


def _anchor_link(path: list[str]) -> str:
    anchor = "-".join(["pressroom", *path])
    return f"[`{path[-1]}`](#{anchor})"


def render_cli_reference() -> str:
    """The Markdown of ``docs/reference/cli.md``."""
    parser = _parser()
    out = [
        "# Command-line reference",
        "",
        f"Generated from `pressroom/cli.py` by `{_REGENERATE}`; do not edit by hand.",
        "Every command takes the global options (`--config`, `--debug`) before its name, e.g.",
        "`pressroom --config /srv/pressroom/pressroom.toml status`; `python -m pressroom` works",
        "too. Exit codes: 0 success, 1 the job ran and failed, 2 bad usage or bad config.",
        "What each command is for is told in the [operator's guide](../README.md).",
    ]
    out += _command_section([], parser)
    return "\n".join(out) + "\n"


def reference_files() -> dict[str, str]:
    """File name (inside :data:`REFERENCE_DIR`) -> the text it must hold."""
    return {"config.md": render_config_reference(), "cli.md": render_cli_reference()}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference pages (``--check``: only compare); returns the exit code."""
    parser = argparse.ArgumentParser(prog=_REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REFERENCE_DIR), help="default: docs/reference")
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    folder = Path(args.out)
    stale = []
    for name, text in reference_files().items():
        path = folder / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "wrote"
        print(f"{verb}: {path}", file=sys.stderr if args.check else sys.stdout)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
