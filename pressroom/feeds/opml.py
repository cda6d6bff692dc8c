"""``feeds.opml``: the feeds in one OPML 2.0 file, for one-click import into a reader.

A reader that imports the whole file gets each article once: the ``栏目`` outline holds
one subscription per section (every article is in one section), and the ``汇总`` outline
offers ``all`` and ``important``, which repeat the sections' articles, as links
(``type="link"``, ``url``) that a reader shows but does not subscribe to on import.
"""

from __future__ import annotations

from email.utils import format_datetime
from xml.etree import ElementTree as ET

from pressroom.feeds.formats import preferred_format
from pressroom.feeds.items import FeedMeta
from pressroom.feeds.specs import ALL_NAME, IMPORTANT_NAME

__all__ = ["AGGREGATE_OUTLINE", "SECTIONS_OUTLINE", "render_opml"]

SECTIONS_OUTLINE = "栏目"
AGGREGATE_OUTLINE = "汇总（与栏目重复，需要时单独订阅）"
_AGGREGATES = (ALL_NAME, IMPORTANT_NAME)


def render_opml(title: str, feeds: list[FeedMeta], formats: list[str]) -> bytes:
    """An OPML 2.0 document offering ``feeds`` (UTF-8 bytes).

    Each section feed is an ``outline`` with ``text``, ``title``, ``xmlUrl`` (the
    configured format that comes first in the registry: rss, atom, json) and ``htmlUrl``,
    inside the ``栏目`` outline; ``all`` and ``important`` are ``type="link"`` outlines
    inside a second one. ``dateModified`` is the newest feed's update time, so the file
    only changes when a feed does.
    """
    fmt = preferred_format(formats).name
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    if feeds:
        newest = max(meta.updated for meta in feeds)
        ET.SubElement(head, "dateModified").text = format_datetime(newest, usegmt=True)
    body = ET.SubElement(root, "body")
    sections = [meta for meta in feeds if meta.name not in _AGGREGATES]
    aggregates = [meta for meta in feeds if meta.name in _AGGREGATES]
    if sections:
        group = ET.SubElement(body, "outline", text=SECTIONS_OUTLINE, title=SECTIONS_OUTLINE)
        for meta in sections:
            ET.SubElement(
                group,
                "outline",
                text=meta.title,
                title=meta.title,
                type="rss",  # OPML 2.0: "rss" for any feed format
                xmlUrl=meta.self_urls[fmt],
                htmlUrl=meta.home_url,
                language=meta.language,
            )
    if aggregates:
        group = ET.SubElement(body, "outline", text=AGGREGATE_OUTLINE, title=AGGREGATE_OUTLINE)
        for meta in aggregates:
            ET.SubElement(
                group, "outline", text=meta.title, title=meta.title, type="link",
                url=meta.self_urls[fmt],
            )  # fmt: skip
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"
