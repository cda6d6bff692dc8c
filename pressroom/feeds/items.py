"""The typed values the feed writers consume: one feed's header and its prepared entries.

They are built once per feed from store articles (see :mod:`pressroom.feeds.content`) and
hold only clean text: no control characters, sanitised HTML, absolute URLs, UTC times.
Every writer (RSS/Atom in ``build.py``, JSON Feed, OPML, the index page) reads these and
nothing else, so feedgen's objects never leak out of ``build.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["FORMAT_FILES", "MEDIA_TYPES", "FeedItem", "FeedMeta"]

FORMAT_FILES = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}
"""Configured format name to the file it is written to inside a feed's folder."""
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
"""Configured format name to the media type of its file (links and ``<link rel>``)."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry, ready to be written in any format."""

    id: str
    link: str
    title: str
    published: datetime
    updated: datetime
    authors: tuple[str, ...]
    category: str
    summary: str
    content_html: str | None
    image_url: str | None
    image_type: str | None


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """A feed's header: names, links and the settings that shape every format.

    ``name`` is the folder (``all``, ``important`` or a section slug); ``self_urls`` maps a
    format (``rss``, ``atom``, ``json``) to the public URL its file is served at.
    ``home_url`` is where the feed belongs (its section's page, else the site's home page);
    ``site_url`` is the site's home page. ``logo_url``, ``icon_url`` and ``rights`` come
    from ``[site]``; ``hubs`` are the WebSub hubs announced with ``rel="hub"``.
    """

    name: str
    title: str
    section_name: str
    description: str
    home_url: str
    site_url: str
    self_urls: dict[str, str]
    language: str
    generator: str
    generator_version: str
    generator_uri: str
    site_name: str
    ttl: int
    hubs: tuple[str, ...]
    updated: datetime
    logo_url: str | None = None
    icon_url: str | None = None
    rights: str | None = None
