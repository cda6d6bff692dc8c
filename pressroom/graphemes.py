"""Cutting text where a reader sees a character end: on extended grapheme clusters.

A summary cut on code points can split an emoji sequence (a family, a flag, a skin tone),
a letter from its accent or a Hangul syllable from its jamo, leaving a broken glyph
before the ellipsis. Unicode's segmentation (UAX #29, the ``regex`` module's ``\\X``) says
where a cut is safe.
"""

from __future__ import annotations

import regex

__all__ = ["cut_graphemes", "graphemes"]

_CLUSTER = regex.compile(r"\X")
_LATIN_WORD_BACKOFF = 15
"""How far a cut may back up to a space to keep a Latin word whole."""


def graphemes(text: str) -> list[str]:
    """``text``'s extended grapheme clusters, in order."""
    return _CLUSTER.findall(text)


def cut_graphemes(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` grapheme clusters, ``ellipsis`` included when cut.

    Backs up to a space when that keeps a Latin word whole without losing much (CJK has
    no spaces between words: it is cut between characters).
    """
    if len(text) <= limit:  # no more code points than clusters allowed: nothing to cut
        return text
    clusters = graphemes(text)
    if len(clusters) <= limit:
        return text
    end = limit - len(ellipsis)
    head = clusters[:end]
    if clusters[end].isascii() and clusters[end].isalnum():
        for back in range(1, min(_LATIN_WORD_BACKOFF, end) + 1):
            if head[end - back] == " ":
                head = head[: end - back]
                break
    return "".join(head).rstrip() + ellipsis
