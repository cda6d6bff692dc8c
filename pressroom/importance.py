"""The importance rule, shared by the digest and the ``important/`` feed.

score = the section's weight + a bonus for priority (headline or recommended) + the
bonus of the highest view tier reached. An article is important when score >= threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pressroom.config import DigestSettings
from pressroom.models import Article, Priority, Section

__all__ = ["is_important", "priority_bonus", "score", "section_weights"]


def section_weights(
    sections: Iterable[Section], overrides: Mapping[str, float]
) -> dict[str, float]:
    """Section slug to weight: the store's ``sections``, overridden by ``overrides``.

    ``overrides`` is :attr:`Settings.section_weights <pressroom.config.Settings.section_weights>`
    (the config's ``[[sections]]``).
    """
    return {s.slug: s.weight for s in sections} | dict(overrides)


def priority_bonus(priority: Priority, rules: DigestSettings) -> float:
    """What ``priority`` adds to the score under ``rules``."""
    if priority == Priority.HEADLINE:
        return rules.headline_bonus
    if priority == Priority.RECOMMENDED:
        return rules.recommended_bonus
    return 0.0


def score(article: Article, section_weights: Mapping[str, float], rules: DigestSettings) -> float:
    """Return ``article``'s importance score under ``rules``.

    Args:
        article: the article to score.
        section_weights: section slug to weight (unknown sections weigh 0).
        rules: the bonuses and view tiers (the ``[digest]`` settings).
    """
    total = section_weights.get(article.section, 0.0) + priority_bonus(article.priority, rules)
    tier_bonus = 0.0
    for tier in rules.view_tiers:
        if article.views >= tier.min_views:
            tier_bonus = max(tier_bonus, tier.bonus)
    return total + tier_bonus


def is_important(
    article: Article, section_weights: Mapping[str, float], rules: DigestSettings
) -> bool:
    """True when ``article`` scores at least ``rules.threshold``."""
    return score(article, section_weights, rules) >= rules.threshold
