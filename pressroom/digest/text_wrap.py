"""Wrapping the plain-text part to 78 display columns, as a mail client shows it.

Widths follow the Unicode East Asian Width property: wide and fullwidth characters (CJK,
fullwidth punctuation) take two columns, combining marks none, everything else one. Lines
break at spaces and between CJK characters, never inside a URL, a word of Latin letters or
a per-recipient mark (an URL longer than the line stands alone on its own line), and
never before closing punctuation (``，。）》``) or after opening punctuation (``（《“``).
A continuation line keeps the indent of its first line, past an item number (``10. ``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = ["MAX_COLUMNS", "display_width", "wrap_line", "wrap_text"]

MAX_COLUMNS = 78
"""RFC 5322 section 2.1.1: lines SHOULD be no more than 78 characters."""

_NO_START = set("，。、；：！？）》」』】〉”’…—·,.;:!?)]}%")
_NO_END = set("（《「『【〈“‘([{")
_UNBREAKABLE = re.compile(r"(?:https?|mailto):\S+|PR[A-Z][0-9a-f]+\w+?X|[^\s]")
_HANGING = re.compile(r"\s*(?:\d+\.\s+)?")


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal or in a mail client's fixed-width font."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or char in "\u200b\u200d\ufe0f":
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _tokens(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` cut where a line may break: (piece, space before it)."""
    pieces: list[tuple[str, bool]] = []
    space = False
    for match in _UNBREAKABLE.finditer(text):
        piece = match.group()
        space = text[match.start() - 1].isspace() if match.start() else False
        if len(piece) == 1 and pieces and not space:
            previous, had_space = pieces[-1]
            joins = not (_is_wide(piece) or _is_wide(previous[-1])) and not previous.startswith(
                ("http:", "https:", "mailto:")
            )
            if piece in _NO_START or previous[-1] in _NO_END or joins:
                pieces[-1] = (previous + piece, had_space)
                continue
        pieces.append((piece, space))
    yield from pieces


def wrap_line(line: str, columns: int = MAX_COLUMNS) -> list[str]:
    """``line`` as lines of at most ``columns`` (an unbreakable piece may stand alone)."""
    if display_width(line) <= columns:
        return [line]
    head = _HANGING.match(line)
    lead = head.group() if head else ""
    indent = " " * display_width(lead)
    lines: list[str] = []
    current, width = lead, display_width(lead)
    fresh = True  # nothing but the indent on the current line yet
    for piece, space in _tokens(line[len(lead) :]):
        gap = " " if space and not fresh else ""
        need = display_width(gap + piece)
        if not fresh and width + need > columns:
            lines.append(current.rstrip())
            current, width, gap = indent, len(indent), ""
            need = display_width(piece)
        current += gap + piece
        width += need
        fresh = False
    lines.append(current.rstrip())
    return lines


def wrap_text(text: str, columns: int = MAX_COLUMNS) -> str:
    """Every line of ``text`` wrapped to ``columns``; the signature line ``-- `` kept."""
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(wrap_line(line, columns))
    return "\n".join(out)
