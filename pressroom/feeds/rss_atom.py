"""RSS 2.0 and Atom 1.0 through feedgen: the only module that imports it.

feedgen's getter/setter objects stay in here; callers pass typed
:class:`~pressroom.feeds.items.FeedMeta` / :class:`~pressroom.feeds.items.FeedItem` values
and get bytes back. Its known traps, and what this adapter does about them:

- Atom entry links lose ``rel``/``type``/``length`` (lkiesow/python-feedgen#135): no Atom
  enclosures; the image goes in ``media:thumbnail`` and the content instead.
- ``type='CDATA'`` is invalid in Atom: content and summary are ``type="html"`` (escaped).
- Control characters fail only at serialisation: items arrive already cleaned.
- The RSS channel ``<link>`` is the *last* link added: the self link goes first.
- ``media:thumbnail`` needs ``group=None`` or it lands in an empty ``media:group``.
- The syndication extension writes an invalid ``sy:UpdatePeriod``: not loaded; ``<ttl>``.
- New entries are prepended by default, and every entry is rendered again for every
  feed: entries are rendered once per article and format (``FeedEntry.rss_entry`` /
  ``atom_entry``, cached) and copies appended in order, newest first. The header without
  entries comes from the public ``rss_str`` / ``atom_str`` and is parsed back to take
  them (about 15 µs a feed; feedgen's private ``_create_rss`` would save only that).
- A feed's and an entry's updated default to "now": both are always set from the items.
- RSS ``<author>`` must be an e-mail address: each author goes in a ``dc:creator`` of
  their own (the names as Atom and JSON Feed list them, roles kept out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator
from lxml import etree  # type: ignore[import-untyped]

from pressroom.feeds.formats import feed_format
from pressroom.feeds.items import FeedItem, FeedMeta

__all__ = ["check_atom", "check_rss", "clear_entries", "render_atom", "render_rss"]

ATOM_NS = "http://www.w3.org/2005/Atom"


def render_rss(meta: FeedMeta, items: list[FeedItem]) -> bytes:
    """The RSS 2.0 document of ``meta`` and ``items`` (UTF-8 bytes)."""
    root = _header(_generator(meta, "rss").rss_str(xml_declaration=False))
    channel = root.find("channel")
    # right after the atom:link rel="self" feedgen wrote, in the configured order
    at = channel.index(channel.find(f"{{{ATOM_NS}}}link")) + 1
    for offset, url in enumerate(meta.hubs):
        channel.insert(at + offset, etree.Element(f"{{{ATOM_NS}}}link", href=url, rel="hub"))
    for item in items:
        channel.append(_entry_element(item, "rss"))
    return _serialise(root)


def render_atom(meta: FeedMeta, items: list[FeedItem]) -> bytes:
    """The Atom 1.0 document of ``meta`` and ``items`` (UTF-8 bytes)."""
    root = _header(_generator(meta, "atom").atom_str(xml_declaration=False))
    for item in items:
        root.append(_entry_element(item, "atom"))
    return _serialise(root)


def check_rss(document: bytes) -> list[str]:
    """The ``<link>`` of each ``<item>`` of an RSS 2.0 document, in order.

    Raises:
        ValueError: not well-formed XML, or not an RSS 2.0 document with one channel.
    """
    root = _parse(document)
    channels = root.findall("channel")
    if root.tag != "rss" or root.get("version") != "2.0" or len(channels) != 1:
        raise ValueError("not an RSS 2.0 document with one <channel>")
    for required in ("title", "link", "description"):
        if channels[0].find(required) is None:
            raise ValueError(f"the RSS <channel> has no <{required}>")
    return [item.findtext("link", "") for item in channels[0].findall("item")]


def check_atom(document: bytes) -> list[str]:
    """The alternate link of each ``<entry>`` of an Atom 1.0 document, in order.

    Raises:
        ValueError: not well-formed XML, or an Atom feed or entry without its id, title
            or updated.
    """
    root = _parse(document)
    if root.tag != f"{{{ATOM_NS}}}feed":
        raise ValueError("not an Atom 1.0 <feed>")
    links = []
    for element in (root, *root.findall(f"{{{ATOM_NS}}}entry")):
        for required in ("id", "title", "updated"):
            if element.find(f"{{{ATOM_NS}}}{required}") is None:
                raise ValueError(f"an Atom <{etree.QName(element).localname}> has no <{required}>")
        if element is not root:  # a link without rel is the alternate one (RFC 4287 4.2.7.2)
            alternates = [
                link.get("href", "")
                for link in element.findall(f"{{{ATOM_NS}}}link")
                if link.get("rel", "alternate") == "alternate"
            ]
            links.append(alternates[0] if alternates else "")
    return links


def _parse(document: bytes) -> Any:
    try:
        return etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc


def _header(document: bytes) -> Any:
    """The feed element feedgen wrote (no entries yet), parsed back for the entries."""
    return etree.fromstring(document, _PARSER)


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _serialise(root: Any) -> bytes:
    return bytes(etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True))


def _generator(meta: FeedMeta, fmt: str) -> Any:
    fg = FeedGenerator()
    fg.register_extension("media", MediaExtension, MediaEntryExtension, atom=True, rss=True)
    if fmt == "rss":
        fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    fg.id(meta.self_urls.get(fmt) or meta.home_url)
    fg.title(meta.title)
    fg.description(meta.description)
    fg.subtitle(meta.description)
    fg.author(name=meta.site_name, uri=meta.site_url)
    fg.link(href=meta.self_urls[fmt], rel="self", type=feed_format(fmt).media_type)
    if fmt == "atom":
        for url in meta.hubs:
            fg.link(href=url, rel="hub")
    fg.link(href=meta.home_url, rel="alternate", type="text/html")  # last: the RSS <link>
    fg.language(meta.language)
    if fmt == "rss":  # RSS has no version attribute: it goes in the text
        fg.generator(f"{meta.generator} {meta.generator_version}")
    else:
        fg.generator(meta.generator, version=meta.generator_version, uri=meta.generator_uri)
    fg.updated(meta.updated)
    if meta.rights:
        fg.rights(meta.rights)  # Atom <rights>, RSS <copyright>
    _images(fg, meta, fmt)
    if fmt == "rss":
        fg.ttl(meta.ttl)
    return fg


def _images(fg: Any, meta: FeedMeta, fmt: str) -> None:
    """Atom ``<logo>``/``<icon>``; RSS ``<image>`` (the logo, else the icon) whose title
    and link repeat the channel's, as RSS 2.0 requires."""
    if fmt == "atom":
        if meta.icon_url:
            fg.icon(meta.icon_url)
        if meta.logo_url:
            fg.logo(meta.logo_url)
        return
    image = meta.logo_url or meta.icon_url
    if image:
        fg.image(image, title=meta.title, link=meta.home_url)


_ENTRY_CACHE_SIZE = 4096
_entries: OrderedDict[tuple[str, FeedItem], Any] = OrderedDict()
_entries_lock = threading.Lock()


def clear_entries() -> None:
    """Forget every rendered entry element."""
    with _entries_lock:
        _entries.clear()


def _entry_element(item: FeedItem, fmt: str) -> Any:
    """A copy of ``item``'s ``<item>``/``<entry>`` element, rendered once by feedgen.

    An article is in several feeds (``all``, its section, maybe ``important``) and in
    build after build: feedgen renders it once per format and the element is copied.
    """
    key = (fmt, item)
    with _entries_lock:
        element = _entries.get(key)
        if element is not None:
            _entries.move_to_end(key)
    if element is None:
        entry = _feed_entry(item, fmt)
        element = entry.rss_entry() if fmt == "rss" else entry.atom_entry()
        with _entries_lock:
            _entries[key] = element
            while len(_entries) > _ENTRY_CACHE_SIZE:
                _entries.popitem(last=False)
    return element.__copy__()  # lxml: a deep copy, without copy.deepcopy's memo overhead


def _feed_entry(item: FeedItem, fmt: str) -> Any:
    entry = FeedEntry()
    # register_extension, not load_extension: that one first tries to import a module
    # feedgen.ext.<name>_entry that does not exist, a sys.path search on every entry.
    entry.register_extension("media", MediaEntryExtension, atom=True, rss=True)
    if fmt == "rss":
        entry.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    entry.guid(item.id, permalink=item.id == item.link)
    entry.title(item.title)
    entry.link(href=item.link, rel="alternate", type="text/html")
    entry.published(item.published)
    entry.updated(item.updated)
    entry.category(term=item.category, label=item.category)
    if fmt == "atom":
        for name in item.authors:
            entry.author(name=name)
        entry.summary(item.summary or item.title, type="text")
        if item.content_html:
            entry.content(item.content_html, type="html")
    else:
        # a dc:creator per author, as Atom and JSON Feed list one author each
        entry.dc.dc_creator(list(item.authors), replace=True)
        entry.description(item.summary or item.title)
        if item.content_html:
            entry.content(item.content_html)
        if item.image_url:
            entry.enclosure(item.image_url, "0", item.image_type or "image/jpeg")
    if item.image_url:
        entry.media.thumbnail(url=item.image_url, group=None)
    return entry
