"""The importance rule, shared by the digest and the ``important/`` feed.

score = the section's weight + a bonus for priority (headline or recommended) + the
bonus of the highest view tier reached. An article is important when score >= threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pressroom.models import Article, ImportanceRule, Priority, Section

__all__ = ["is_important", "priority_bonus", "score", "section_weights"]


def section_weights(
    sections: Iterable[Section], overrides: Mapping[str, float]
) -> dict[str, float]:
    """Section slug to weight: the store's ``sections``, overridden by ``overrides``.

    ``overrides`` are the weights of the config's ``[[sections]]``.
    """
    return {s.slug: s.weight for s in sections} | dict(overrides)


def priority_bonus(priority: Priority, rule: ImportanceRule) -> float:
    """What ``priority`` adds to the score under ``rule``."""
    if priority == Priority.HEADLINE:
        return rule.headline_bonus
    if priority == Priority.RECOMMENDED:
        return rule.recommended_bonus
    return 0.0


def score(article: Article, section_weights: Mapping[str, float], rule: ImportanceRule) -> float:
    """Return ``article``'s importance score under ``rule``.

    Args:
        article: the article to score.
        section_weights: section slug to weight (unknown sections weigh 0).
        rule: the bonuses and view tiers (``[digest]``).
    """
    total = section_weights.get(article.section, 0.0) + priority_bonus(article.priority, rule)
    tier_bonus = 0.0
    for min_views, bonus in rule.view_tiers:
        if article.views >= min_views:
            tier_bonus = max(tier_bonus, bonus)
    return total + tier_bonus


def is_important(
    article: Article, section_weights: Mapping[str, float], rule: ImportanceRule
) -> bool:
    """True when ``article`` scores at least ``rule.threshold``."""
    return score(article, section_weights, rule) >= rule.threshold
