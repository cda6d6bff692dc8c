"""The importance rule as a WHERE clause, so the ``important`` feed is an index scan.

:func:`important_clause` is true exactly for the articles
:func:`pressroom.importance.is_important` accepts: sections are grouped by weight and, for
each group and priority, the rule reduces to "views >= the lowest tier that reaches the
threshold", or to always / never.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, not_, or_

from pressroom.importance import priority_bonus
from pressroom.models import ImportanceRule, Priority
from pressroom.store.schema import articles

__all__ = ["Important", "important_clause"]


@dataclass(frozen=True)
class Important:
    """Which articles are important: section weights (slug to weight) and the rule."""

    weights: Mapping[str, float]
    rule: ImportanceRule


def _min_views(base: float, rule: ImportanceRule) -> int | None:
    """Fewest views that make ``base`` (weight + priority bonus) important; None: never."""
    # The same float arithmetic as pressroom.importance.score, so SQL and Python agree.
    if base + 0.0 >= rule.threshold:
        return 0
    reaching = [views for views, bonus in rule.view_tiers if base + bonus >= rule.threshold]
    return min(reaching) if reaching else None


def important_clause(important: Important) -> ColumnElement[bool]:
    """A WHERE clause on ``articles`` true exactly for the important articles.

    Sections not in ``important.weights`` weigh 0.
    """
    weights, rule = important.weights, important.rule
    groups: dict[float, list[str]] = {}
    for slug, weight in weights.items():
        groups.setdefault(weight, []).append(slug)
    terms: list[ColumnElement[bool]] = []
    for weight, slugs in sorted(groups.items()):
        terms += _group_terms(articles.c.section.in_(sorted(slugs)), weight, rule)
    others = not_(articles.c.section.in_(sorted(weights))) if weights else None
    terms += _group_terms(others, 0.0, rule)
    if not terms:
        return false()
    if not any(_min_views(w, rule) is not None for w in [0.0, *weights.values()]):
        # No normal-priority article can be important: let the partial index
        # ix_articles_priority_published (WHERE priority > 0) serve the scan.
        return and_(articles.c.priority > 0, or_(*terms))
    return or_(*terms)


def _group_terms(
    section: ColumnElement[bool] | None, weight: float, rule: ImportanceRule
) -> list[ColumnElement[bool]]:
    terms = []
    for priority in Priority:
        views = _min_views(weight + priority_bonus(priority, rule), rule)
        if views is None:
            continue
        parts = [articles.c.priority == int(priority)]
        if section is not None:
            parts.append(section)
        if views > 0:
            parts.append(articles.c.views >= views)
        terms.append(and_(*parts))
    return terms
