"""Who gets what: the important articles of a window, cut per subscriber.

A run selects the important articles once (:func:`important_articles`); each subscriber
then gets those in the sections they chose (none chosen = all), the best ``max_items``,
grouped by section (the group holding the best article first), best first inside each
group. Subscribers who chose the same sections get the same :class:`DigestContent`, so it
is rendered once (:class:`ContentCache`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pressroom.digest.config import DigestConfig
from pressroom.importance import score, section_weights
from pressroom.models import Article, Section, Subscriber
from pressroom.store.articles import published_between

__all__ = [
    "ContentCache",
    "DigestContent",
    "SectionGroup",
    "cut_for",
    "important_articles",
]


@dataclass(frozen=True, slots=True)
class SectionGroup:
    """One section's articles in a digest, best first."""

    section: Section
    articles: tuple[Article, ...]


@dataclass(frozen=True, slots=True)
class DigestContent:
    """What one digest mail says; equal contents are rendered once."""

    groups: tuple[SectionGroup, ...]

    @property
    def key(self) -> tuple[int, ...]:
        """The article ids in mail order: the identity of this content."""
        return tuple(a.id for group in self.groups for a in group.articles)

    @property
    def count(self) -> int:
        """How many articles the mail lists."""
        return sum(len(group.articles) for group in self.groups)

    def __bool__(self) -> bool:
        return bool(self.groups)


def important_articles(
    conn: Connection,
    config: DigestConfig,
    sections: Sequence[Section],
    start: datetime,
    end: datetime,
) -> list[Article]:
    """Important articles published in ``(start, end]``, best first.

    Best = highest importance score, then newest. The section weights come from the
    ``sections`` table, overridden by ``[[sections]]`` in the config.
    """
    weights = section_weights(sections, config.section_weights)
    rule = config.importance
    scored = [(score(a, weights, rule), a) for a in published_between(conn, start, end)]
    found = [pair for pair in scored if pair[0] >= rule.threshold]
    found.sort(key=lambda pair: (-pair[0], -pair[1].published_at.timestamp(), -pair[1].id))
    return [article for _, article in found]


def cut_for(
    ranked: Sequence[Article],
    chosen: Iterable[str],
    sections: Sequence[Section],
    max_items: int,
) -> DigestContent:
    """The digest for someone who chose the sections ``chosen`` (empty = all).

    Args:
        ranked: the run's articles, best first.
        chosen: section slugs; unknown slugs simply match nothing.
        sections: every known section (names and site order).
        max_items: the cap on articles per mail.
    """
    wanted = set(chosen)
    picked = [a for a in ranked if not wanted or a.section in wanted][:max_items]
    by_slug = {s.slug: s for s in sections}
    grouped: dict[str, list[Article]] = {}
    for article in picked:  # best first, so groups appear in order of their best article
        grouped.setdefault(article.section, []).append(article)
    groups = tuple(
        SectionGroup(by_slug.get(slug) or Section(slug, slug), tuple(items))
        for slug, items in grouped.items()
    )
    return DigestContent(groups)


class ContentCache:
    """Cuts the run's articles per distinct section choice, once each."""

    def __init__(
        self, ranked: Sequence[Article], sections: Sequence[Section], max_items: int
    ) -> None:
        self._ranked = list(ranked)
        self._sections = list(sections)
        self._max_items = max_items
        self._cache: dict[frozenset[str], DigestContent] = {}

    def for_subscriber(self, subscriber: Subscriber) -> DigestContent:
        """The content ``subscriber`` gets (empty when nothing matches their sections)."""
        return self.for_sections(subscriber.sections)

    def for_sections(self, sections: Iterable[str]) -> DigestContent:
        """The content for someone who chose ``sections`` (empty = all)."""
        choice = frozenset(sections)
        content = self._cache.get(choice)
        if content is None:
            content = cut_for(self._ranked, choice, self._sections, self._max_items)
            self._cache[choice] = content
        return content

    @property
    def distinct(self) -> int:
        """How many distinct section choices were seen."""
        return len(self._cache)
