"""line_index: the line of an import file that held a key before, across batches."""

from __future__ import annotations

from pressroom.line_index import LineIndex


def test_line_index_reports_the_last_earlier_line_across_calls() -> None:
    index = LineIndex()
    assert index.earlier([("a", 1), ("b", 2), ("a", 3)]) == {3: 1}
    assert index.earlier([("c", 4), ("a", 5), ("b", 6)]) == {5: 3, 6: 2}
    assert index.earlier([(f"k{n}", 10 + n) for n in range(5000)]) == {}
    index.close()
