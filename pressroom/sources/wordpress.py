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

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection

from pressroom.incoming import text_problem
from pressroom.sources.candidate import EPOCH, Candidate
from pressroom.sources.reader import SourceDatabase
from pressroom.sources.sql import since_params

__all__ = ["Category", "WordPressReader", "WordPressSite", "paragraphs"]

_STATUS = {"publish": "published", "trash": "deleted"}
_STICKY_ID = re.compile(r'i:\d+;(?:i:(\d+)|s:\d+:"(\d+)");')  # ints; strings from old WordPress
_TRASHED = "__trashed"
_BLOCK = re.compile(r"<(p|div|h[1-6]|ul|ol|table|blockquote|figure|pre)[\s>]", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SECTIONS_CACHED = 10_000  # distinct category lists of posts remembered in one sync

# One row per post, its categories, views and featured image in correlated subqueries
# (each an index lookup inside the server): a pure-Python driver pays per row and per
# column it reads, so the server hands each post over as one JSON array (decoded by
# json.loads, in C) with its times as seconds since 1970 (no datetime parsing), and the
# ID beside it (so a post too large for the array is still named). Servers without
# JSON_ARRAY (MySQL before 5.7.8, MariaDB before 10.2.3) get the same values as columns.
# A trashed post's slug before WordPress renamed it comes from _wp_desired_post_slug.
_POST_VALUES = """p.ID, TIMESTAMPDIFF(SECOND, '1970-01-01', p.post_date),
       TIMESTAMPDIFF(SECOND, '1970-01-01', p.post_date_gmt),
       TIMESTAMPDIFF(SECOND, '1970-01-01', p.post_modified_gmt),
       p.post_title, p.post_excerpt, p.post_content, p.post_status, p.post_name, u.display_name,
       CASE WHEN p.post_status = 'trash' THEN (SELECT d.meta_value FROM {p}postmeta d
          WHERE d.post_id = p.ID AND d.meta_key = '_wp_desired_post_slug' LIMIT 1)
       END,
       (SELECT GROUP_CONCAT(r.term_taxonomy_id ORDER BY r.term_order, r.term_taxonomy_id)
          FROM {p}term_relationships r WHERE r.object_id = p.ID),
       (SELECT a.guid FROM {p}postmeta m JOIN {p}posts a ON a.ID = m.meta_value
          WHERE m.post_id = p.ID AND m.meta_key = '_thumbnail_id' LIMIT 1),
       {views}"""
_POSTS = """
SELECT {select}
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
_ID_SPAN = "SELECT MIN(ID) AS low, MAX(ID) AS high FROM {p}posts"


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
        self,
        name: str,
        db: SourceDatabase,
        site: WordPressSite,
        zone: tzinfo,
        *,
        batch: int,
        json_rows: bool = True,
    ) -> None:
        """``zone`` is WordPress's own zone (for ``post_date`` where the GMT one is zero);
        ``json_rows=False`` reads columns even where the server has JSON_ARRAY."""
        self.name, self.db, self.site, self.zone, self.batch = name, db, site, zone, batch
        self.json_rows = json_rows

    def close(self) -> None:
        """Close the source's connections."""
        self.db.close()

    def batches(self, since: datetime) -> Iterator[list[Candidate]]:
        """Posts changed at or after ``since`` (every post when it is the epoch), mapped,
        in batches: modified since, or published by WordPress's cron since (see above)."""
        return self._read(since, None)

    def ranges(self, since: datetime, width: int) -> list[tuple[int, int]]:
        """(first, last) ranges of ``width`` post IDs covering every post of a full pass
        (``since`` the epoch): what helper processes read, each range on its own. [] for
        an incremental pass (its posts are few, and found by time, not by ID)."""
        if since > EPOCH:
            return []
        with self.db.connect() as conn:
            found = self.db.fetch(conn, self._sql(_ID_SPAN), {})
        low, high = found[0]["low"], found[0]["high"]
        if low is None or high is None:
            return []
        low, high = int(low), int(high)
        return [(first, min(first + width - 1, high)) for first in range(low, high + 1, width)]

    def range_batches(self, since: datetime, ids: tuple[int, int]) -> Iterator[list[Candidate]]:
        """The posts of ``batches(since)`` whose ID is in ``ids`` (first, last)."""
        return self._read(since, ids)

    def _read(self, since: datetime, ids: tuple[int, int] | None) -> Iterator[list[Candidate]]:
        params = since_params(self.db.dialect, since, UTC)
        where = _CHANGED
        if since > EPOCH:
            params["since_local"] = since_params(self.db.dialect, since, self.zone)["since"]
            where = f"({_CHANGED}) OR ({_CRON_PUBLISHED})"
        where = f"({where})"
        if ids is not None:
            where += " AND p.ID BETWEEN :first_id AND :last_id"
            params["first_id"], params["last_id"] = ids
        views = "NULL"
        if self.site.views_meta_key:
            views = _VIEWS
            params["views_key"] = self.site.views_meta_key
        with self.db.connect() as conn:
            posts = _Posts(self.site, self._terms(conn), self._sticky(conn), self.zone)
            values = _POST_VALUES.replace("{views}", views)
            as_json = self.json_rows and _has_json_array(conn)
            select = f"p.ID, JSON_ARRAY({values})" if as_json else values
            query = self._sql(_POSTS.replace("{select}", select).replace("{where}", where))
            for rows in self.db.stream_tuples(conn, query, params, self.batch):
                if as_json:
                    yield [posts.from_json(row[0], row[1]) for row in rows]
                else:
                    yield [posts.candidate(row) for row in rows]

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


def _has_json_array(conn: Connection) -> bool:
    """Whether the server has JSON_ARRAY (MariaDB 10.2.3, MySQL 5.7.8)."""
    dialect = conn.dialect
    if dialect.name != "mysql":
        return False
    version = tuple(dialect.server_version_info or ())
    return version >= ((10, 2, 3) if getattr(dialect, "is_mariadb", False) else (5, 7, 8))


class _Posts:
    """One sync's mapping of post rows to candidates: the site's categories and sticky
    posts as read at its start, each distinct list of a post's terms resolved once."""

    def __init__(
        self,
        site: WordPressSite,
        terms: dict[str, Category],
        sticky: frozenset[int],
        zone: tzinfo,
    ) -> None:
        self.site, self.terms, self.sticky, self.zone = site, terms, sticky, zone
        self._sections: dict[str, tuple[str, str] | str] = {}  # (section, {category}) or why not
        constants = (site.home, site.permalink, *site.sections.values())
        self._site_clean = all(text_problem(text) is None for text in constants)

    def from_json(self, post_id: Any, row: str | bytes | None) -> Candidate:
        """A post read as (ID, its values as a JSON array)."""
        if row is None:  # JSON_ARRAY gives NULL (and a warning) beyond max_allowed_packet
            return Candidate(f"id={post_id}", None, "too large for the server to send whole")
        # JSON escapes every control character (NUL too) as \u....; utf8mb4 text decoded
        # strictly holds no lone surrogate: without an escape, no text can hold either
        escaped = b"\\u" in row if isinstance(row, bytes) else "\\u" in row
        try:
            values = json.loads(row)
        except ValueError:  # never seen: the server's JSON is well-formed
            return Candidate(f"id={post_id}", None, "not readable as JSON from the server")
        return self.candidate(values, plain=not escaped)

    def candidate(self, post: Sequence[Any], *, plain: bool = False) -> Candidate:
        """A post read as the values of ``_POST_VALUES``, in order; ``plain``: none of its
        texts holds a NUL or a lone surrogate (the candidate is marked clean when its URL,
        made with the site's own texts and the decoded slugs, holds neither too)."""
        (post_id, date, date_gmt, modified_gmt, title, excerpt, content, status, name,
         author, desired_slug, term_ids, image, views) = post  # fmt: skip
        post_id = int(post_id)
        key = f"id={post_id}"
        section = self._section(term_ids)
        if isinstance(section, str):
            return Candidate(key, None, section)
        published = _moment(date_gmt, UTC) or _moment(date, self.zone)
        values = {
            "url": self._url(post_id, status, name, desired_slug, date, published, section[1]),
            "section": section[0],
            "title": title,
            "summary": excerpt,
            "body_html": paragraphs(str(content or "")),
            "authors": author or "",
            "image_url": image or None,
            "published_at": published,
            "updated_at": _moment(modified_gmt, UTC),
            "views": _whole(views),
            "priority": 2 if post_id in self.sticky else 0,
            "status": _STATUS.get(str(status), "draft"),
        }
        clean = plain and self._site_clean and text_problem(values["url"]) is None
        return Candidate(key, values, clean=clean)

    def _section(self, term_ids: Any) -> tuple[str, str] | str:
        """(section key, ``{category}`` path) of the post, or why it has none."""
        raw = term_ids.decode() if isinstance(term_ids, bytes) else str(term_ids or "")
        found = self._sections.get(raw)
        if found is None:
            if len(self._sections) >= _SECTIONS_CACHED:
                self._sections.clear()
            # tags and other taxonomies left out
            categories = [self.terms[i] for i in raw.split(",") if i in self.terms]
            found = self._sections[raw] = _first_section(categories, self.site.sections)
        return found

    def _url(
        self,
        post_id: int,
        status: Any,
        name: Any,
        desired_slug: Any,
        date: Any,
        published: datetime | None,
        category: str,
    ) -> str:
        """The post's URL as WordPress's ``get_permalink()`` makes it (see the module doc)."""
        template = self.site.permalink
        fields: dict[str, object] = {"home": self.site.home, "id": post_id}
        if "{slug}" in template:
            slug = str(name or "")
            if status == "trash":
                slug = str(desired_slug) if desired_slug else slug.removesuffix(_TRASHED)
            fields["slug"] = slug or post_id
        if "{category}" in template:
            fields["category"] = category
        if "{year}" in template or "{month}" in template or "{day}" in template:
            # WordPress's own wall clock (post_date), as get_permalink reads it
            local = _moment(date, UTC)
            if local is None:
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


def _first_section(
    categories: list[Category], sections: Mapping[str, str]
) -> tuple[str, str] | str:
    """(section key, ``{category}`` path) of a post in ``categories``, else why it has none.

    The section of the first category a section matches; else of the nearest ancestor of
    one (the post's categories in order, each one's parents nearest first). The path is
    WordPress's: parent/child of the category with the lowest term id.
    """
    own_then_ancestors = [*categories, *(a for c in categories for a in c.ancestors)]
    found = next(
        (key for c in own_then_ancestors if (key := _match(c, sections)) is not None), None
    )
    if found is None:
        names = ", ".join(c.name for c in categories) or "none"
        return f"no section for its categories ({names})"
    first = min(categories, key=lambda c: c.term_id)
    path = "/".join([c.slug for c in reversed(first.ancestors)] + [first.slug])
    return found, path


def _match(category: Category, sections: Mapping[str, str]) -> str | None:
    slug, name = unquote(category.slug), category.name
    for candidate in (slug, name, slug.lower(), name.lower()):
        if candidate in sections:
            return sections[candidate]
    return None


def _moment(seconds: Any, zone: tzinfo) -> datetime | None:
    """Seconds since 1970 of a DATETIME column's wall-clock time (TIMESTAMPDIFF) as a time
    in ``zone``; None for NULL (MySQL's zero date) and times a datetime cannot hold."""
    if seconds is None:
        return None
    try:
        moment = datetime.fromtimestamp(int(seconds), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return moment if zone is UTC else moment.replace(tzinfo=zone)


def paragraphs(content: str) -> str:
    """Post content as HTML: classic-editor text (blank lines between paragraphs) gets
    ``<p>`` and ``<br>`` as WordPress's ``wpautop`` would; block HTML is kept as it is."""
    if not content.strip() or ("<" in content and _BLOCK.search(content)):
        return content
    if "\r" in content:
        content = content.replace("\r\n", "\n")
    parts = [p.strip() for p in _PARAGRAPH_BREAK.split(content)]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in parts if p)


def _whole(value: object) -> int:
    if value is None:
        return 0
    value = str(value).strip()
    return int(value) if value.isdigit() and len(value) < 12 else 0
