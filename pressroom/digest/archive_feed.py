"""The archive's feeds: an Atom 1.0 ``feed.xml`` and a JSON Feed 1.1 ``feed.json`` per
digest schedule, one entry per completed run, newest first.

Every value comes from the store (a run's window, completion time and articles), so the
bytes change only when a run completes: readers get 304s the rest of the time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

__all__ = ["ArchiveFeed", "Issue", "render_atom", "render_json"]

_ATOM = "http://www.w3.org/2005/Atom"
ElementTree.register_namespace("", _ATOM)


@dataclass(frozen=True, slots=True)
class Issue:
    """One completed run as the archive shows it.

    Attributes:
        name: its page's name, the days it holds (``2026-12-07``, ``2026-11-30_2026-12-06``).
        title: the subject line, e.g. ``测试新闻网 · 12月1日至12月7日 要闻 5 篇``.
        label: the days it covers (``12月1日至12月7日``).
        count: how many articles it holds.
        url: its public page.
        completed: when the run completed (the entry's date).
        articles: ``(title, url)`` of each article, in the page's order.
    """

    name: str
    title: str
    label: str
    count: int
    url: str
    completed: datetime
    articles: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ArchiveFeed:
    """What both feed files of one schedule say about it."""

    title: str
    language: str
    site_url: str
    folder_url: str
    index_url: str
    author: str
    issues: Sequence[Issue]

    @property
    def updated(self) -> datetime:
        """The newest run's completion (the Unix epoch before the first one)."""
        return max((i.completed for i in self.issues), default=datetime(1970, 1, 1, tzinfo=UTC))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _content_html(issue: Issue) -> str:
    items = "".join(
        f'<li><a href="{_attr(url)}">{_text(title)}</a></li>' for title, url in issue.articles
    )
    return f"<ol>{items}</ol>"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def render_atom(feed: ArchiveFeed) -> bytes:
    """``feed.xml``: Atom 1.0 (RFC 4287), valid in the W3C feed validator."""
    root = ElementTree.Element(f"{{{_ATOM}}}feed", {"xml:lang": feed.language})
    _sub(root, "id", feed.folder_url + "feed.xml")
    _sub(root, "title", feed.title)
    _sub(root, "updated", _iso(feed.updated))
    author = _sub(root, "author")
    _sub(author, "name", feed.author)
    _sub(author, "uri", feed.site_url)
    _sub(root, "link", rel="self", type="application/atom+xml", href=feed.folder_url + "feed.xml")
    _sub(root, "link", rel="alternate", type="text/html", href=feed.index_url)
    for issue in feed.issues:
        entry = _sub(root, "entry")
        _sub(entry, "id", issue.url)
        _sub(entry, "title", issue.title)
        _sub(entry, "updated", _iso(issue.completed))
        _sub(entry, "published", _iso(issue.completed))
        _sub(entry, "link", rel="alternate", type="text/html", href=issue.url)
        _sub(entry, "summary", f"{issue.label}的 {issue.count} 篇要闻。")
        _sub(entry, "content", _content_html(issue), type="html")
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")


def _sub(
    parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str
) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, f"{{{_ATOM}}}{tag}", attributes)
    element.text = text
    return element


def render_json(feed: ArchiveFeed) -> bytes:
    """``feed.json``: JSON Feed 1.1."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.index_url,
        "feed_url": feed.folder_url + "feed.json",
        "language": feed.language,
        "authors": [{"name": feed.author, "url": feed.site_url}],
        "items": [
            {
                "id": issue.url,
                "url": issue.url,
                "title": issue.title,
                "summary": f"{issue.label}的 {issue.count} 篇要闻。",
                "content_html": _content_html(issue),
                "date_published": _iso(issue.completed),
                "date_modified": _iso(issue.completed),
            }
            for issue in feed.issues
        ],
    }
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
    return (text + "\n").encode("utf-8")
