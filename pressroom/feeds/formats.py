"""The feed-format registry: every fact about a format (RSS, Atom, JSON Feed) in one value.

A :class:`FeedFormat` says what ``[feeds] formats`` calls it, the file it is written to
in each feed's folder, its media type (links, ``<link rel>``, the served
``Content-Type``), its label on the index page, how it renders and how the tests check
what it wrote. Everything else derives from the registry: the formats the configuration
accepts, the files a build writes and removes, the self links, the OPML file and the
index page, the content types ``pressroom.web`` serves and the URLs WebSub announces.

Adding a format is one writer module (a render function and a check function) and one
:func:`register` call at the bottom of this module; see "How to add a feed format" in
``docs/ARCHITECTURE.md``. The registry's order is the order of preference: the OPML file
links each feed's first configured format in it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from pressroom.feeds.items import FeedItem, FeedMeta

__all__ = [
    "Check",
    "FeedFormat",
    "Render",
    "feed_file_names",
    "feed_format",
    "format_for_file",
    "lazy",
    "preferred_format",
    "register",
    "registered",
    "unknown_format_problems",
    "unregister",
]

Render = Callable[[FeedMeta, list[FeedItem]], bytes]
"""Writes one feed: deterministic bytes (no "now", stable order) from its header and items."""
Check = Callable[[bytes], list[str]]
"""Parses a written file; returns its entries' links in order, raises ValueError if invalid."""


@dataclass(frozen=True)
class FeedFormat:
    """One feed format.

    Attributes:
        name: its value in ``[feeds] formats`` (``rss``).
        file_name: the file written inside each feed's folder (``rss.xml``).
        media_type: its media type in links (``application/rss+xml``).
        label: its link text on the index page (``RSS``).
        render: writes one feed (:data:`Render`).
        check: reads a written file back (:data:`Check`); the test suite runs it on every
            file a build writes, so a new format is checked without a new test.
        content_type: the ``Content-Type`` it is served with; ``media_type`` when empty.
    """

    name: str
    file_name: str
    media_type: str
    label: str
    render: Render
    check: Check
    content_type: str = ""

    @property
    def served_as(self) -> str:
        """The ``Content-Type`` header of its file."""
        return self.content_type or self.media_type


_FORMATS: dict[str, FeedFormat] = {}


def register(fmt: FeedFormat) -> FeedFormat:
    """Add ``fmt`` to the registry (last in preference); returns it.

    Raises:
        ValueError: its name or file name is already registered.
    """
    for other in _FORMATS.values():
        if fmt.name == other.name or fmt.file_name == other.file_name:
            raise ValueError(f"feed format {fmt.name!r} ({fmt.file_name}) is already registered")
    _FORMATS[fmt.name] = fmt
    return fmt


def unregister(name: str) -> None:
    """Remove the format called ``name`` (a plug-in's or a test's) from the registry."""
    _FORMATS.pop(name, None)


def registered() -> tuple[FeedFormat, ...]:
    """Every registered format, in order of preference."""
    return tuple(_FORMATS.values())


def feed_format(name: str) -> FeedFormat:
    """The format called ``name``.

    Raises:
        KeyError: no such format is registered (the configuration is checked first:
            :func:`unknown_format_problems`).
    """
    return _FORMATS[name]


def feed_file_names() -> frozenset[str]:
    """The file names of every registered format (what a feed folder may hold)."""
    return frozenset(fmt.file_name for fmt in _FORMATS.values())


def format_for_file(file_name: str) -> FeedFormat | None:
    """The format written to ``file_name`` (a bare name: ``feed.json``), if any."""
    return next((fmt for fmt in _FORMATS.values() if fmt.file_name == file_name), None)


def preferred_format(names: Iterable[str]) -> FeedFormat:
    """The first registered format among ``names``; the first registered one if none is."""
    wanted = set(names)
    formats = registered()
    return next((fmt for fmt in formats if fmt.name in wanted), formats[0])


def unknown_format_problems(names: Iterable[str]) -> list[str]:
    """One line per configured name that is not a registered format (empty: all known)."""
    known = ", ".join(repr(name) for name in _FORMATS)
    return [
        f"feeds.formats[{index}]: unknown feed format {name!r} (known: {known})"
        for index, name in enumerate(names)
        if name not in _FORMATS
    ]


def lazy(module: str, name: str) -> Callable[..., object]:
    """``module.name``, imported on its first call (feedgen and lxml cost ~130 ms)."""
    found: list[Callable[..., object]] = []

    def call(*args: object) -> object:
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return found[0](*args)

    call.__qualname__ = call.__name__ = name
    return call


register(
    FeedFormat(
        "rss",
        "rss.xml",
        "application/rss+xml",
        "RSS",
        cast(Render, lazy("pressroom.feeds.rss_atom", "render_rss")),
        cast(Check, lazy("pressroom.feeds.rss_atom", "check_rss")),
        "application/rss+xml; charset=utf-8",
    )
)
register(
    FeedFormat(
        "atom",
        "atom.xml",
        "application/atom+xml",
        "Atom",
        cast(Render, lazy("pressroom.feeds.rss_atom", "render_atom")),
        cast(Check, lazy("pressroom.feeds.rss_atom", "check_atom")),
        "application/atom+xml; charset=utf-8",
    )
)
register(
    FeedFormat(
        "json",
        "feed.json",
        "application/feed+json",
        "JSON Feed",
        cast(Render, lazy("pressroom.feeds.jsonfeed", "render_json")),
        cast(Check, lazy("pressroom.feeds.jsonfeed", "check_json")),
    )
)
