"""The two files beside the feed folders: ``feeds.opml`` and ``index.html``."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pressroom.feeds.items import FeedItem, FeedMeta
from pressroom.feeds.output_files import write_if_changed
from pressroom.feeds.report import FeedBuildReport

__all__ = ["INDEX_FILE", "OPML_FILE", "SITE_FILES", "write_site_files"]

INDEX_FILE = "index.html"
OPML_FILE = "feeds.opml"
SITE_FILES = (OPML_FILE, INDEX_FILE)


def write_site_files(
    out: Path,
    rows: list[tuple[FeedMeta, FeedItem | None]],
    formats: list[str],
    report: FeedBuildReport,
    *,
    site_name: str,
    language: str,
    zone: ZoneInfo,
    force: bool,
    archive_href: str | None = None,
) -> None:
    """Render and write the OPML file and the index page when a feed changed.

    Args:
        out: the output folder.
        rows: each published feed's header and newest entry, in display order.
        formats: the configured formats (links and the OPML ``xmlUrl``).
        report: receives the paths written or kept.
        site_name: the ``[site] name`` (both titles).
        language: the ``[site] language`` of the index page.
        zone: the ``[site] tz`` the index page shows times in.
        force: render even when both files exist (a feed changed or was removed).
        archive_href: the digest archive's index (``[digest] archive``), linked from the
            index page.
    """
    if not force and all((out / name).is_file() for name in SITE_FILES):
        report.kept += list(SITE_FILES)
        return
    from pressroom.feeds.index_page import IndexRow, render_index
    from pressroom.feeds.opml import render_opml

    documents = {
        OPML_FILE: render_opml(f"{site_name} · 订阅源", [meta for meta, _ in rows], formats),
        INDEX_FILE: render_index(
            site_name,
            language,
            zone,
            [IndexRow(m, n) for m, n in rows],
            formats,
            archive_href=archive_href,
        ),
    }
    for name, data in documents.items():
        written = write_if_changed(out / name, data, gzip_sibling=name == OPML_FILE)
        (report.written if written else report.kept).append(name)
