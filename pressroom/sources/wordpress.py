"""``kind = "wordpress"``: a WordPress database's posts as articles.

The tables and columns are WordPress's own (``wp-admin/includes/schema.php``):
``posts`` (``post_type = 'post'``; tracked by ``post_modified_gmt``), ``users``
(``display_name`` as the author), ``terms`` + ``term_taxonomy`` + ``term_relationships``
(the post's categories), ``options`` (``sticky_posts``, a PHP-serialised array of ids) and
``postmeta`` (``_thumbnail_id``, and the views counter when ``views_meta_key`` is set).

Rules: ``publish`` is published, ``trash`` deleted, every other status (``draft``,
``pending``, ``private``, ``future``) a draft; sticky posts are headlines; the section is
the first of the post's categories (in ``term_order``) that ``section_map`` or a section's
slug or name knows (WordPress keeps non-ASCII slugs percent-encoded: they are decoded);
a post with no such category is skipped and counted. Times come from the ``_gmt`` columns
(UTC); a draft's zero ``post_date_gmt`` falls back to ``post_date`` in the source's zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection

from pressroom.sources.candidate import EPOCH, Candidate
from pressroom.sources.reader import SourceDatabase
from pressroom.sources.sql import since_params
from pressroom.sources.values import source_time

__all__ = ["WordPressReader", "WordPressSite", "paragraphs"]

_STATUS = {"publish": "published", "trash": "deleted"}
_STICKY_ID = re.compile(r"i:\d+;i:(\d+);")
_BLOCK = re.compile(r"<(p|div|h[1-6]|ul|ol|table|blockquote|figure|pre)[\s>]", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

# One row per post, its categories, views and featured image in correlated subqueries
# (each an index lookup inside the server): a pure-Python driver pays per row it reads, so
# one row per post is several times faster than separate lookup queries per batch.
_POSTS = """
SELECT p.ID AS id, p.post_date, p.post_date_gmt, p.post_modified_gmt, p.post_title,
       p.post_excerpt, p.post_content, p.post_status, p.post_name, u.display_name,
       (SELECT GROUP_CONCAT(r.term_taxonomy_id ORDER BY r.term_order, r.term_taxonomy_id)
          FROM {p}term_relationships r WHERE r.object_id = p.ID) AS term_ids,
       (SELECT a.guid FROM {p}postmeta m JOIN {p}posts a ON a.ID = m.meta_value
          WHERE m.post_id = p.ID AND m.meta_key = '_thumbnail_id' LIMIT 1) AS image,
       {views} AS views
FROM {p}posts p LEFT JOIN {p}users u ON u.ID = p.post_author
WHERE p.post_type = 'post' AND p.post_status NOT IN ('auto-draft', 'inherit')
  AND p.post_modified_gmt >= :since
"""
_VIEWS = """(SELECT v.meta_value FROM {p}postmeta v
          WHERE v.post_id = p.ID AND v.meta_key = :views_key LIMIT 1)"""
_CATEGORIES = """
SELECT tt.term_taxonomy_id AS ttid, t.slug, t.name
FROM {p}term_taxonomy tt JOIN {p}terms t ON t.term_id = tt.term_id
WHERE tt.taxonomy = 'category'
"""
_STICKY = "SELECT option_value FROM {p}options WHERE option_name = 'sticky_posts'"


@dataclass(frozen=True, slots=True)
class WordPressSite:
    """What the preset needs to know of the site: tables, addresses, sections."""

    table_prefix: str
    home: str
    permalink: str
    sections: Mapping[str, str]
    """Every section key pressroom accepts (slug, name) -> its slug, plus ``section_map``."""
    views_meta_key: str | None = None


class WordPressReader:
    """Reads the posts of a WordPress database."""

    def __init__(
        self, name: str, db: SourceDatabase, site: WordPressSite, zone: tzinfo, *, batch: int
    ) -> None:
        """``zone`` is WordPress's own zone (for ``post_date`` where the GMT one is zero)."""
        self.name, self.db, self.site, self.zone, self.batch = name, db, site, zone, batch

    def close(self) -> None:
        """Close the source's connections."""
        self.db.close()

    def batches(self, since: datetime) -> Iterator[list[Candidate]]:
        """Posts modified at or after ``since``, mapped, in batches."""
        params = since_params(self.db.dialect, since, UTC)
        views = "NULL"
        if self.site.views_meta_key:
            views = _VIEWS
            params["views_key"] = self.site.views_meta_key
        with self.db.connect() as conn:
            terms = self._terms(conn)
            sticky = self._sticky(conn)
            query = self._sql(_POSTS.replace("{views}", views))
            for posts in self.db.stream(conn, query, params, self.batch):
                yield [self._candidate(post, terms, sticky) for post in posts]

    def _sql(self, query: str) -> str:
        # the prefix is checked by the config: letters, digits and _ only
        return query.replace("{p}", self.site.table_prefix)

    def _terms(self, conn: Connection) -> dict[str, tuple[str, str]]:
        rows = self.db.fetch(conn, self._sql(_CATEGORIES), {})
        return {str(r["ttid"]): (unquote(str(r["slug"])), str(r["name"])) for r in rows}

    def _sticky(self, conn: Connection) -> frozenset[int]:
        rows = self.db.fetch(conn, self._sql(_STICKY), {})
        text = str(rows[0]["option_value"]) if rows else ""
        return frozenset(int(i) for i in _STICKY_ID.findall(text))

    def _candidate(
        self, post: dict[str, Any], terms: dict[str, tuple[str, str]], sticky: frozenset[int]
    ) -> Candidate:
        post_id = int(post["id"])
        key = f"id={post_id}"
        raw = post["term_ids"] or ""
        ids = (raw.decode() if isinstance(raw, bytes) else str(raw)).split(",")
        categories = [terms[i] for i in ids if i in terms]  # tags and other taxonomies left out
        section = self._section(categories)
        if section is None:
            names = ", ".join(name for _, name in categories) or "none"
            return Candidate(key, None, f"no section for its categories ({names})")
        published = source_time(post["post_date_gmt"], UTC) or source_time(
            post["post_date"], self.zone
        )
        modified = source_time(post["post_modified_gmt"], UTC)
        values = {
            "url": self._url(post, published, section[1]),
            "section": section[0],
            "title": post["post_title"],
            "summary": post["post_excerpt"],
            "body_html": paragraphs(str(post["post_content"] or "")),
            "authors": post["display_name"] or "",
            "image_url": post["image"] or None,
            "published_at": published.isoformat() if published else None,
            "updated_at": modified.isoformat() if modified else None,
            "views": _whole(post["views"]),
            "priority": 2 if post_id in sticky else 0,
            "status": _STATUS.get(str(post["post_status"]), "draft"),
        }
        return Candidate(key, values)

    def _section(self, categories: list[tuple[str, str]]) -> tuple[str, str] | None:
        """(section key, category slug) of the first category a section matches."""
        sections = self.site.sections
        for slug, name in categories:
            for candidate in (slug, name, slug.lower(), name.lower()):
                if candidate in sections:
                    return sections[candidate], slug
        return None

    def _url(self, post: dict[str, Any], published: datetime | None, category: str) -> str:
        template = self.site.permalink
        fields: dict[str, object] = {"home": self.site.home, "id": post["id"]}
        if "{slug}" in template:
            fields["slug"] = unquote(str(post["post_name"] or "")) or post["id"]
        if "{category}" in template:
            fields["category"] = category
        if "{year}" in template or "{month}" in template or "{day}" in template:
            local = (published or EPOCH).astimezone(self.zone)  # none: the parser refuses it
            fields |= {
                "year": f"{local.year:04d}",
                "month": f"{local.month:02d}",
                "day": f"{local.day:02d}",
            }
        return template.format_map(fields)


def paragraphs(content: str) -> str:
    """Post content as HTML: classic-editor text (blank lines between paragraphs) gets
    ``<p>`` and ``<br>`` as WordPress's ``wpautop`` would; block HTML is kept as it is."""
    if not content.strip() or _BLOCK.search(content):
        return content
    parts = [p.strip() for p in _PARAGRAPH_BREAK.split(content.replace("\r\n", "\n"))]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in parts if p)


def _whole(value: object) -> int:
    if value is None:
        return 0
    value = str(value).strip()
    return int(value) if value.isdigit() and len(value) < 12 else 0
