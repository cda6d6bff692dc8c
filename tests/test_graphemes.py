"""Summaries are cut on grapheme clusters: no emoji sequence, flag, skin tone or accent is
split before the ellipsis (issue 22)."""

from __future__ import annotations

import pytest

from pressroom.graphemes import cut_graphemes, graphemes

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
FLAG = "\U0001f1e8\U0001f1f3"
THUMB = "\U0001f44d\U0001f3fd"
HANGUL = "\u1100\u1161\u11a8"  # one syllable in conjoining jamo


def test_clusters_are_what_a_reader_counts_as_characters() -> None:
    assert graphemes(f"a{FAMILY}{FLAG}e\u0301{THUMB}{HANGUL}") == [
        "a", FAMILY, FLAG, "e\u0301", THUMB, HANGUL,
    ]  # fmt: skip


@pytest.mark.parametrize("cluster", [FAMILY, FLAG, THUMB, "e\u0301", HANGUL, "\u2764\ufe0f"])
def test_a_cut_never_splits_a_cluster(cluster: str) -> None:
    for limit in range(2, 8):
        cut = cut_graphemes("一二" + cluster * 6 + "三", limit)
        assert cut.endswith("…")
        assert all(piece in ("一", "二", cluster) for piece in graphemes(cut[:-1]))
        assert len(graphemes(cut)) == limit


def test_short_text_is_kept_and_latin_words_stay_whole() -> None:
    assert cut_graphemes("短文", 10) == "短文"
    assert cut_graphemes(FAMILY * 3, 3) == FAMILY * 3  # 3 clusters, 8 code points
    assert cut_graphemes("breaking news about something", 20) == "breaking news about…"
