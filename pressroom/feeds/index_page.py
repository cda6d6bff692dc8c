"""``index.html``: a page in the site's language listing every feed and how to subscribe.

Dates are shown in the site's time zone; the page holds no "now", so it only changes
when a feed does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from pressroom.clock import display_time
from pressroom.feeds.formats import registered
from pressroom.feeds.items import FeedItem, FeedMeta

__all__ = ["IndexRow", "render_index"]


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One feed on the page: its header and its newest entry."""

    meta: FeedMeta
    newest: FeedItem | None


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("pressroom", "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _iso(value: datetime) -> str:
    """A valid HTML ``<time datetime>``: UTC, at most milliseconds (HTML allows 1-3
    fraction digits; an edited article's time has microseconds)."""
    utc = value.astimezone(UTC)
    spec = "milliseconds" if utc.microsecond // 1000 else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def render_index(
    site_name: str,
    language: str,
    zone: ZoneInfo,
    rows: list[IndexRow],
    formats: list[str],
    *,
    archive_href: str | None = None,
) -> bytes:
    """The index page (UTF-8 bytes) for ``rows``, with links to the ``formats`` given and
    to the digest archive at ``archive_href`` (none when None)."""
    known = registered()
    context_rows = [
        {
            "meta": row.meta,
            "newest": row.newest,
            "newest_iso": _iso(row.newest.published) if row.newest else "",
            "newest_local": display_time(row.newest.published, zone) if row.newest else "",
            "files": {f.name: f"{row.meta.name}/{f.file_name}" for f in known},
        }
        for row in rows
    ]
    updated = max((row.meta.updated for row in rows), default=datetime(1970, 1, 1, tzinfo=UTC))
    page = (
        _environment()
        .get_template("feeds/index.html")
        .render(
            site_name=site_name,
            language=language,
            rows=context_rows,
            formats=formats,
            labels={f.name: f.label for f in known},
            media_types={f.name: f.media_type for f in known},
            opml_href="feeds.opml",
            archive_href=archive_href,
            updated_iso=_iso(updated),
            updated_local=display_time(updated, zone),
        )
    )
    return page.encode("utf-8")
