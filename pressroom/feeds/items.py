"""The typed values the feed writers consume: one feed's header and its prepared entries.

They are built once per feed from store articles (see :mod:`pressroom.feeds.prepare`) and
hold only clean text: no control characters, sanitised HTML, absolute URLs, UTC times.
Every writer (RSS/Atom in ``rss_atom.py``, JSON Feed, OPML, the index page) reads these
and nothing else, so feedgen's objects never leak out of ``rss_atom.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["FeedItem", "FeedMeta"]


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

    ``name`` is the folder (``all``, ``important`` or a section slug); ``self_urls`` maps
    each registered format (:mod:`pressroom.feeds.formats`) to the public URL of its file.
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
