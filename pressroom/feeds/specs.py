"""Which feeds exist and what each is called: ``all``, ``important``, one per section."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement

from pressroom import __version__
from pressroom.config import Settings
from pressroom.feeds.items import FORMAT_FILES, FeedMeta
from pressroom.feeds.queries import important_clause
from pressroom.models import Section
from pressroom.store.schema import articles

__all__ = [
    "ALL_NAME",
    "IMPORTANT_NAME",
    "RENDER_VERSION",
    "FeedSpec",
    "feed_meta",
    "feed_specs",
    "section_weights",
    "settings_key",
]

ALL_NAME, ALL_TITLE = "all", "全部文章"
IMPORTANT_NAME, IMPORTANT_TITLE = "important", "要闻"
RENDER_VERSION = "1"
"""Bump when the output of the same articles changes, so every feed is rebuilt."""
GENERATOR_URI = "https://pypi.org/project/pressroom/"


@dataclass(frozen=True)
class FeedSpec:
    """One feed to publish: its folder name, display name and which articles it holds."""

    name: str
    section_name: str
    where: ColumnElement[bool] | None
    important_only: bool = False


def section_weights(settings: Settings, sections: list[Section]) -> dict[str, float]:
    """Section weights: the store's, overridden by the config's ``[[sections]]``."""
    return {s.slug: s.weight for s in sections} | settings.section_weights


def feed_specs(settings: Settings, sections: list[Section]) -> list[FeedSpec]:
    """``all``, ``important`` and one feed per section, in site order."""
    weights = section_weights(settings, sections)
    specs = [
        FeedSpec(ALL_NAME, ALL_TITLE, None),
        FeedSpec(
            IMPORTANT_NAME,
            IMPORTANT_TITLE,
            important_clause(weights, settings.digest),
            important_only=True,
        ),
    ]
    reserved = {ALL_NAME, IMPORTANT_NAME}
    specs += [
        FeedSpec(s.slug, s.name, articles.c.section == s.slug)
        for s in sections
        if s.slug not in reserved
    ]
    return specs


_keys: dict[tuple[int, str], tuple[Settings, str]] = {}


def settings_key(settings: Settings, output_dir: Path) -> str:
    """A digest of every setting that shapes the output, plus the output folder.

    Cached per settings object (they are frozen): dumping them costs more than the whole
    no-change fast path.
    """
    cached = _keys.get((id(settings), str(output_dir)))
    if cached is not None and cached[0] is settings:
        return cached[1]
    if len(_keys) > 64:
        _keys.clear()
    key = _settings_key(settings, output_dir)
    _keys[(id(settings), str(output_dir))] = (settings, key)
    return key


def _settings_key(settings: Settings, output_dir: Path) -> str:
    shaping = {
        "site": settings.site.model_dump(mode="json"),
        "feeds": settings.feeds.model_dump(mode="json"),
        "public_url": settings.feeds_public_url,
        "digest": settings.digest.model_dump(mode="json", exclude={"subject", "templates_dir"}),
        "sections": [s.model_dump(mode="json") for s in settings.sections],
        "output_dir": str(output_dir),
        "render": RENDER_VERSION,
        "version": __version__,
    }
    text = json.dumps(shaping, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _description(spec: FeedSpec, site: str) -> str:
    if spec.name == ALL_NAME:
        return f"{site}全部栏目的最新文章"
    if spec.name == IMPORTANT_NAME:
        return f"{site}要闻:头条、推荐和阅读量高的文章"
    return f"{site}「{spec.section_name}」栏目的最新文章"


def feed_meta(spec: FeedSpec, settings: Settings, updated: datetime) -> FeedMeta:
    """The header of ``spec``'s feed; ``updated`` is its newest item's time."""
    site = settings.site.name
    base = settings.feeds_public_url
    return FeedMeta(
        name=spec.name,
        title=f"{site} · {spec.section_name}",
        section_name=spec.section_name,
        description=_description(spec, site),
        home_url=settings.site.base_url,
        self_urls={fmt: f"{base}{spec.name}/{file}" for fmt, file in FORMAT_FILES.items()},
        language=settings.site.language,
        generator="pressroom",
        generator_uri=GENERATOR_URI,
        site_name=site,
        ttl=settings.feeds.ttl,
        websub_hub=settings.feeds.websub_hub,
        updated=updated,
    )
