"""``feeds.opml``: every feed in one OPML 2.0 file, for one-click import into a reader."""

from __future__ import annotations

from email.utils import format_datetime
from xml.etree import ElementTree as ET

from pressroom.feeds.formats import preferred_format
from pressroom.feeds.items import FeedMeta

__all__ = ["render_opml"]


def render_opml(title: str, feeds: list[FeedMeta], formats: list[str]) -> bytes:
    """An OPML 2.0 document listing ``feeds`` (UTF-8 bytes).

    Each feed is one ``outline`` with ``text``, ``title``, ``xmlUrl`` (the configured
    format that comes first in the registry: rss, atom, json) and ``htmlUrl``.
    ``dateModified`` is the newest feed's update time, so the file only changes when a
    feed does.
    """
    fmt = preferred_format(formats).name
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    if feeds:
        newest = max(meta.updated for meta in feeds)
        ET.SubElement(head, "dateModified").text = format_datetime(newest, usegmt=True)
    body = ET.SubElement(root, "body")
    for meta in feeds:
        ET.SubElement(
            body,
            "outline",
            text=meta.title,
            title=meta.title,
            type="rss",  # OPML 2.0: "rss" for any feed format
            xmlUrl=meta.self_urls[fmt],
            htmlUrl=meta.home_url,
            language=meta.language,
        )
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"
