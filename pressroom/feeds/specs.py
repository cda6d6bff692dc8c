"""Which feeds exist and what each is called: ``all``, ``important``, one per section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pressroom import __version__
from pressroom.feeds.feed_config import FeedConfig
from pressroom.feeds.formats import registered
from pressroom.feeds.items import FeedMeta
from pressroom.models import Section

__all__ = ["ALL_NAME", "IMPORTANT_NAME", "FeedSpec", "feed_meta", "feed_specs"]

ALL_NAME, ALL_TITLE = "all", "全部文章"
IMPORTANT_NAME, IMPORTANT_TITLE = "important", "要闻"
GENERATOR_URI = "https://pypi.org/project/pressroom/"


@dataclass(frozen=True)
class FeedSpec:
    """One feed to publish: its folder name, display name and which articles it holds.

    ``section`` is the one section it holds (None: every section); ``important_only``
    keeps only the articles :func:`pressroom.importance.is_important` accepts.
    """

    name: str
    section_name: str
    section: str | None = None
    important_only: bool = False


def feed_specs(sections: list[Section]) -> list[FeedSpec]:
    """``all``, ``important`` and one feed per section, in site order."""
    specs = [
        FeedSpec(ALL_NAME, ALL_TITLE),
        FeedSpec(IMPORTANT_NAME, IMPORTANT_TITLE, important_only=True),
    ]
    reserved = {ALL_NAME, IMPORTANT_NAME}
    specs += [FeedSpec(s.slug, s.name, s.slug) for s in sections if s.slug not in reserved]
    return specs


def _description(spec: FeedSpec, site: str) -> str:
    if spec.name == ALL_NAME:
        return f"{site}全部栏目的最新文章"
    if spec.name == IMPORTANT_NAME:
        return f"{site}要闻：头条、推荐和阅读量高的文章"
    return f"{site}「{spec.section_name}」栏目的最新文章"


def feed_meta(spec: FeedSpec, config: FeedConfig, updated: datetime) -> FeedMeta:
    """The header of ``spec``'s feed; ``updated`` is its newest item's time.

    A section feed belongs to its ``[[sections]] url`` when one is set; ``all``,
    ``important`` and the other sections belong to the site's home page.
    """
    site = config.site
    base = config.public_url
    pages = {s.slug: s.url for s in config.sections if s.url}
    return FeedMeta(
        name=spec.name,
        title=f"{site.name} · {spec.section_name}",
        section_name=spec.section_name,
        description=_description(spec, site.name),
        home_url=pages.get(spec.section or "") or site.base_url,
        site_url=site.base_url,
        self_urls={f.name: f"{base}{spec.name}/{f.file_name}" for f in registered()},
        language=site.language,
        generator="pressroom",
        generator_version=__version__,
        generator_uri=GENERATOR_URI,
        site_name=site.name,
        ttl=config.feeds.ttl,
        hubs=config.feeds.hubs,
        updated=updated,
        logo_url=site.logo_url,
        icon_url=site.icon_url,
        rights=site.copyright or None,
    )
