"""The public archive: each completed digest as a page anyone may read and share.

``[digest] archive = true`` (the default) writes, under ``<[feeds] output_dir>/digests/``:

- ``<schedule>/<days>.html``: a run's page, named by the days it holds (``2026-12-07``,
  ``2026-11-30_2026-12-06``: :func:`~pressroom.digest.labels.window_name`), the full (all
  sections) selection, without anything personal (no greeting, address, or links carrying a token);
- ``<schedule>/feed.xml`` (Atom) and ``<schedule>/feed.json`` (JSON Feed 1.1): the runs;
- ``index.html``: every schedule's runs, newest first, and their feeds.

A run that selected nothing is left out. Everything is rendered from the store's completed
runs, so the files are byte-stable: a file whose bytes would not change is not touched.
Every mail links to its run's page (:func:`page_url`). nginx or a CDN serves the folder as
it serves the feeds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from pressroom.config import ScheduleSettings
from pressroom.digest.archive_feed import ArchiveFeed, Issue, render_atom, render_json
from pressroom.digest.config import DigestConfig
from pressroom.digest.labels import window_name
from pressroom.digest.plan import plan_for_digest
from pressroom.digest.render import FREQUENCY_LABELS, Renderer, RunInfo
from pressroom.errors import OutputError
from pressroom.models import Frequency
from pressroom.store.digests import Digest, completed_digests
from pressroom.store.engine import Store

__all__ = ["ARCHIVE_FOLDER", "FEED_ENTRIES", "page_url", "publish_archive"]

ARCHIVE_FOLDER = "digests"
"""The archive's folder in the feeds' output folder (and its URL path)."""
FEED_ENTRIES = 20
"""Runs in each schedule's feed (its newest); their pages are (re)written each time."""


def page_url(config: DigestConfig, schedule: str, name: str) -> str | None:
    """The public page ``name`` (:func:`window_name`) of ``schedule``; None without an archive."""
    if config.archive_dir is None:
        return None
    return f"{config.archive_url}{schedule}/{name}.html"


@dataclass(frozen=True, slots=True)
class _Page:
    issue: Issue
    html: str


def publish_archive(config: DigestConfig, store: Store) -> list[Path]:
    """Write the archive's pages, feeds and index that changed; return the files written.

    Does nothing when ``[digest] archive = false``.

    Raises:
        OutputError: a file cannot be written.
    """
    folder = config.archive_dir
    if folder is None:
        return []
    renderer = Renderer(config)
    files: dict[Path, bytes] = {}
    schedules: list[dict[str, Any]] = []
    with store.read() as conn:
        for schedule in config.schedules:
            done = [d for d in completed_digests(conn, schedule.name) if d.article_ids]
            pages = [_page(conn, config, renderer, schedule, d) for d in done[:FEED_ENTRIES]]
            for page in pages:
                files[folder / schedule.name / f"{page.issue.name}.html"] = page.html.encode()
            feed = _feed(config, schedule, [p.issue for p in pages])
            files[folder / schedule.name / "feed.xml"] = render_atom(feed)
            files[folder / schedule.name / "feed.json"] = render_json(feed)
            schedules.append(_index_entry(config, schedule, done, pages))
    files[folder / "index.html"] = renderer.render_index(_index_context(config, schedules)).encode()
    return [path for path, data in files.items() if _write_if_changed(path, data)]


def _page(
    conn: Connection,
    config: DigestConfig,
    renderer: Renderer,
    schedule: ScheduleSettings,
    digest: Digest,
) -> _Page:
    plan = plan_for_digest(conn, config, schedule, digest)
    content = plan.contents.for_sections(())
    zone = schedule.zone(config.site_timezone)
    name = window_name(digest.window_start, digest.window_end, zone)
    url = page_url(config, schedule.name, name) or ""
    info = RunInfo(digest.frequency, digest.window_start, digest.window_end, zone, url)
    rendered = renderer.render_page(content, info)
    articles = tuple(
        (" ".join(a.title.split()), renderer.web_url(a.url) or config.site_url)
        for group in content.groups
        for a in group.articles
    )
    completed = digest.completed_at or digest.window_end
    issue = Issue(name, rendered.subject, info.label, content.count, url, completed,
                  articles)  # fmt: skip
    return _Page(issue, rendered.html)


def _feed(config: DigestConfig, schedule: ScheduleSettings, issues: list[Issue]) -> ArchiveFeed:
    label = FREQUENCY_LABELS[Frequency(schedule.frequency or Frequency.DAILY)]
    return ArchiveFeed(
        title=f"{config.site_name} · {label}要闻",
        language=config.language,
        site_url=config.site_url,
        folder_url=f"{config.archive_url}{schedule.name}/",
        index_url=f"{config.archive_url}index.html",
        author=config.site_name,
        issues=issues,
    )


def _index_entry(
    config: DigestConfig, schedule: ScheduleSettings, done: list[Digest], pages: list[_Page]
) -> dict[str, Any]:
    frequency = Frequency(schedule.frequency or Frequency.DAILY)
    zone = schedule.zone(config.site_timezone)
    counts = {p.issue.name: p.issue.count for p in pages}
    names = {d.id: window_name(d.window_start, d.window_end, zone) for d in done}
    issues = [
        {
            "href": f"{schedule.name}/{names[d.id]}.html",
            "label": RunInfo(d.frequency, d.window_start, d.window_end, zone).label,
            "count": counts.get(names[d.id], min(len(d.article_ids), config.rules.max_items)),
        }
        for d in done
    ]
    return {"name": schedule.name, "frequency_label": FREQUENCY_LABELS[frequency], "issues": issues}


def _index_context(config: DigestConfig, schedules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "site_name": config.site_name,
        "site_url": config.site_url,
        "language": config.language,
        "schedules": schedules,
        "subscribe_url": f"{config.public_url}subscribe",
        "feeds_href": "../index.html",
    }


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically (temporary file, rename) unless it holds it."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return True
