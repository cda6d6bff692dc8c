"""What every test shares: the fixed time, the test secret, a hand-moved clock, settings.

A plain module rather than ``conftest.py`` because the kits import it, and pytest cannot
import a ``conftest.py`` by name when several test folders have one. ``conftest.py``
turns these into fixtures (``clock``, ``settings``, ``make_settings``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pressroom.config import Settings, load_settings

__all__ = [
    "NOW",
    "SECRET",
    "SHANGHAI",
    "FakeClock",
    "make_settings",
    "toml_text",
    "utc",
    "yesterday",
]

NOW = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
"""The tests' present: midnight starting Sunday 29 November 2026 in Asia/Shanghai, so a
digest sent now holds the articles of the 24 hours before it (its window is whole local
days: :mod:`pressroom.digest.plan`)."""
SECRET = "test-secret-0123456789"
"""``[web] secret`` of every test configuration."""
SHANGHAI = ZoneInfo("Asia/Shanghai")


def yesterday() -> datetime:
    """A moment of yesterday both in UTC and in Asia/Shanghai (the test sites' zones), by
    the real clock: an article published then is in the window of a digest sent today (its
    whole local days before today). One hour before the earlier of the two midnights that
    began today: the two yesterdays overlap by at least 8 hours."""
    now = datetime.now(UTC)
    midnights = [
        datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
        for zone in (UTC, SHANGHAI)
    ]
    return min(midnights).astimezone(UTC) - timedelta(hours=1)


def utc(*parts: int) -> datetime:
    """A UTC datetime: ``utc(2026, 11, 29, 1)``."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@dataclass
class FakeClock:
    """A clock that stands still until a test moves it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by ``delta`` and/or ``timedelta(**parts)``; return the new time."""
        self.now += (delta or timedelta()) + timedelta(**parts)
        return self.now


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_text(tables: Mapping[str, Mapping[str, object]]) -> str:
    """TOML for ``{"table": {"key": value}}``; a dict value is a sub-table (``mail.smtp``)."""
    lines: list[str] = []

    def table(name: str, values: Mapping[str, object]) -> None:
        lines.append(f"[{name}]")
        nested = {k: v for k, v in values.items() if isinstance(v, Mapping)}
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in nested)
        for key, sub in nested.items():
            table(f"{name}.{key}", sub)

    for name, values in tables.items():
        table(name, values)
    return "\n".join(lines) + "\n"


def make_settings(folder: Path, extra: str = "", **tables: Mapping[str, object]) -> Settings:
    """Load settings from a ``pressroom.toml`` written in ``folder``.

    Every configuration has ``[web] secret = SECRET`` and its metrics listener on a free
    port (``[web] metrics_listen``); each keyword is one table
    (``site={"name": "测试新闻网"}``, ``mail={"smtp": {"port": 2525}}``), merged over that;
    ``extra`` is raw TOML appended at the end (arrays of tables such as ``[[schedules]]``).
    Relative paths (the default store, ``public/``, ``outbox/``) are inside ``folder``.
    """
    # metrics on any free port: parallel `pressroom serve`s would all take 9464
    merged: dict[str, dict[str, object]] = {
        "web": {"secret": SECRET, "metrics_listen": "127.0.0.1:0"}
    }
    for name, values in tables.items():
        merged.setdefault(name, {}).update(values)
    path = folder / "pressroom.toml"
    path.write_text(toml_text(merged) + extra, encoding="utf-8")
    return load_settings(path)
