"""``kind = "wordpress"``: a WordPress database's posts as articles.

The tables and columns are WordPress's own (``wp-admin/includes/schema.php``):
``posts`` (``post_type = 'post'``; tracked by ``post_modified_gmt``), ``users``
(``display_name`` as the author), ``terms`` + ``term_taxonomy`` + ``term_relationships``
(the post's categories and their parents), ``options`` (``sticky_posts``, a PHP-serialised
array of ids) and ``postmeta`` (``_thumbnail_id``, ``_wp_desired_post_slug``, and the views
counter when ``views_meta_key`` is set).

Rules: ``publish`` is published, ``trash`` deleted, every other status (``draft``,
``pending``, ``private``, ``future``) a draft; sticky posts are headlines; the section is
the first of the post's categories (in ``term_order``) that ``section_map`` or a section's
slug or name knows, else the nearest ancestor of one that does (a post in 时政 under 国内
goes to 国内's section); WordPress keeps non-ASCII slugs percent-encoded: they are compared
decoded. A post with no such category is skipped and counted. Times come from the ``_gmt``
columns (UTC); a draft's zero ``post_date_gmt`` falls back to ``post_date`` in the source's
zone.

URLs are what WordPress's ``get_permalink()`` gives: slugs as WordPress stores them
(percent-encoded, lower-case hex), ``{year}``/``{month}``/``{day}`` from ``post_date`` (the
site's wall clock), ``{category}`` the path (``parent/child``) of the post's category with
the lowest term id. A trashed post keeps the URL it was published under: WordPress renames
its slug ``<slug>__trashed`` and keeps the old one in ``_wp_desired_post_slug``.

What WordPress does that a modification time does not show: its cron publishes a scheduled
post by changing ``post_status`` alone (``wp_publish_post()``), leaving ``post_modified_gmt``
at the time it was scheduled. An incremental pass therefore also reads the published posts
dated since the watermark but modified before it (WordPress's ``type_status_date`` index).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection

from pressroom.sources.candidate import EPOCH, Candidate
from pressroom.sources.reader import SourceDatabase
from pressroom.sources.sql import since_params
from pressroom.sources.values import source_time

__all__ = ["Category", "WordPressReader", "WordPressSite", "paragraphs"]

_STATUS = {"publish": "published", "trash": "deleted"}
_STICKY_ID = re.compile(r'i:\d+;(?:i:(\d+)|s:\d+:"(\d+)");')  # ints; strings from old WordPress
_TRASHED = "__trashed"
_BLOCK = re.compile(r"<(p|div|h[1-6]|ul|ol|table|blockquote|figure|pre)[\s>]", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

# One row per post, its categories, views and featured image in correlated subqueries
# (each an index lookup inside the server): a pure-Python driver pays per row it reads, so
# one row per post is several times faster than separate lookup queries per batch.
_POSTS = """
SELECT p.ID AS id, p.post_date, p.post_date_gmt, p.post_modified_gmt, p.post_title,
       p.post_excerpt, p.post_content, p.post_status, p.post_name, u.display_name,
       CASE WHEN p.post_status = 'trash' THEN (SELECT d.meta_value FROM {p}postmeta d
          WHERE d.post_id = p.ID AND d.meta_key = '_wp_desired_post_slug' LIMIT 1)
       END AS desired_slug,
       (SELECT GROUP_CONCAT(r.term_taxonomy_id ORDER BY r.term_order, r.term_taxonomy_id)
          FROM {p}term_relationships r WHERE r.object_id = p.ID) AS term_ids,
       (SELECT a.guid FROM {p}postmeta m JOIN {p}posts a ON a.ID = m.meta_value
          WHERE m.post_id = p.ID AND m.meta_key = '_thumbnail_id' LIMIT 1) AS image,
       {views} AS views
FROM {p}posts p LEFT JOIN {p}users u ON u.ID = p.post_author
WHERE {where}
"""
# post_type in each branch: each is a range of its own index (MariaDB's index merge)
_CHANGED = (
    "p.post_type = 'post' AND p.post_status NOT IN ('auto-draft', 'inherit') "
    "AND p.post_modified_gmt >= :since"
)
# Scheduled posts that WordPress's cron published since: a range of type_status_date.
_CRON_PUBLISHED = (
    "p.post_type = 'post' AND p.post_status = 'publish' AND p.post_date >= :since_local "
    "AND p.post_modified_gmt < :since"
)
_VIEWS = """(SELECT v.meta_value FROM {p}postmeta v
          WHERE v.post_id = p.ID AND v.meta_key = :views_key LIMIT 1)"""
_CATEGORIES = """
SELECT tt.term_taxonomy_id AS ttid, tt.term_id, tt.parent, t.slug, t.name
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
        """Posts changed at or after ``since`` (every post when it is the epoch), mapped,
        in batches: modified since, or published by WordPress's cron since (see above)."""
        params = since_params(self.db.dialect, since, UTC)
        where = _CHANGED
        if since > EPOCH:
            params["since_local"] = since_params(self.db.dialect, since, self.zone)["since"]
            where = f"({_CHANGED}) OR ({_CRON_PUBLISHED})"
        views = "NULL"
        if self.site.views_meta_key:
            views = _VIEWS
            params["views_key"] = self.site.views_meta_key
        with self.db.connect() as conn:
            terms = self._terms(conn)
            sticky = self._sticky(conn)
            query = self._sql(_POSTS.replace("{views}", views).replace("{where}", f"({where})"))
            for posts in self.db.stream(conn, query, params, self.batch):
                yield [self._candidate(post, terms, sticky) for post in posts]

    def _sql(self, query: str) -> str:
        # the prefix is checked by the config: letters, digits and _ only
        return query.replace("{p}", self.site.table_prefix)

    def _terms(self, conn: Connection) -> dict[str, Category]:
        rows = self.db.fetch(conn, self._sql(_CATEGORIES), {})
        parents = {int(r["term_id"]): int(r["parent"] or 0) for r in rows}
        by_term = {
            int(r["term_id"]): Category(int(r["term_id"]), str(r["slug"]), str(r["name"]))
            for r in rows
        }
        for term_id, category in by_term.items():  # a loop in bad data is cut where it closes
            seen, parent = {term_id}, parents[term_id]
            while parent in by_term and parent not in seen:
                category.ancestors.append(by_term[parent])
                seen.add(parent)
                parent = parents[parent]
        return {str(r["ttid"]): by_term[int(r["term_id"])] for r in rows}

    def _sticky(self, conn: Connection) -> frozenset[int]:
        rows = self.db.fetch(conn, self._sql(_STICKY), {})
        text = str(rows[0]["option_value"]) if rows else ""
        return frozenset(int(a or b) for a, b in _STICKY_ID.findall(text))

    def _candidate(
        self, post: dict[str, Any], terms: dict[str, Category], sticky: frozenset[int]
    ) -> Candidate:
        post_id = int(post["id"])
        key = f"id={post_id}"
        raw = post["term_ids"] or ""
        ids = (raw.decode() if isinstance(raw, bytes) else str(raw)).split(",")
        categories = [terms[i] for i in ids if i in terms]  # tags and other taxonomies left out
        section = self._section(categories)
        if section is None:
            names = ", ".join(c.name for c in categories) or "none"
            return Candidate(key, None, f"no section for its categories ({names})")
        published = source_time(post["post_date_gmt"], UTC) or source_time(
            post["post_date"], self.zone
        )
        modified = source_time(post["post_modified_gmt"], UTC)
        values = {
            "url": self._url(post, published, categories),
            "section": section,
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

    def _section(self, categories: list[Category]) -> str | None:
        """The section of the first category a section matches; else of the nearest
        ancestor of one (the post's categories in order, each one's parents nearest first)."""
        for category in categories:
            if (found := self._match(category)) is not None:
                return found
        for category in categories:
            for ancestor in category.ancestors:
                if (found := self._match(ancestor)) is not None:
                    return found
        return None

    def _match(self, category: Category) -> str | None:
        sections = self.site.sections
        slug, name = unquote(category.slug), category.name
        for candidate in (slug, name, slug.lower(), name.lower()):
            if candidate in sections:
                return sections[candidate]
        return None

    def _url(
        self, post: dict[str, Any], published: datetime | None, categories: list[Category]
    ) -> str:
        """The post's URL as WordPress's ``get_permalink()`` makes it (see the module doc)."""
        template = self.site.permalink
        fields: dict[str, object] = {"home": self.site.home, "id": post["id"]}
        if "{slug}" in template:
            slug = str(post["post_name"] or "")
            if post["post_status"] == "trash":
                desired = post["desired_slug"]
                slug = str(desired) if desired else slug.removesuffix(_TRASHED)
            fields["slug"] = slug or post["id"]
        if "{category}" in template:
            first = min(categories, key=lambda c: c.term_id)
            fields["category"] = "/".join(
                [c.slug for c in reversed(first.ancestors)] + [first.slug]
            )
        if "{year}" in template or "{month}" in template or "{day}" in template:
            local = post["post_date"]  # WordPress's own wall clock, as get_permalink reads it
            if not isinstance(local, datetime):
                local = (published or EPOCH).astimezone(self.zone)  # none: the parser refuses
            fields |= {
                "year": f"{local.year:04d}",
                "month": f"{local.month:02d}",
                "day": f"{local.day:02d}",
            }
        return template.format_map(fields)


@dataclass(slots=True)
class Category:
    """A WordPress category: ``slug`` as WordPress stores it (percent-encoded when it is
    not ASCII), and its ``ancestors``, nearest first."""

    term_id: int
    slug: str
    name: str
    ancestors: list[Category] = field(default_factory=list, repr=False, compare=False)


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
