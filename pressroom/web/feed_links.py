"""The WebSub ``Link`` headers of a feed response (WebSub section 4, discovery).

Every response for a feed file, 200 or 304 and in every format, names each hub
(``rel="hub"``) and the feed's canonical URL (``rel="self"``). A hub distributes a topic
only when the topic's own response names it and the hub; the self URL here is the one in
the feed (its ``atom:link``, ``link`` or ``feed_url``) and the topic the builder pings,
byte for byte: the feeds' public URL and the file's path below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from pressroom.feeds.formats import format_for_file
from pressroom.web.file_server import LinksFor
from pressroom.web.files import FeedFile

__all__ = ["feed_links"]

_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
"""Characters a URL keeps as they are; anything else (non-ASCII) is percent-encoded, as a
header must be ASCII. The feed's own self link is ASCII already (it is built the same way)."""


def feed_links(feeds_url: str, hubs: Sequence[str]) -> LinksFor:
    """The ``Link`` header values of a file at a URL path, for feeds served below
    ``feeds_url`` (``[feeds] public_url``, ending in ``/``) announced to ``hubs``."""
    hub_links = tuple(f'<{quote(hub, safe=_URL_SAFE)}>; rel="hub"'.encode() for hub in hubs)

    def links(path: str, _file: FeedFile) -> Sequence[bytes]:
        if format_for_file(path.rsplit("/", 1)[-1]) is None:  # a registered format's file
            return ()
        own = quote(feeds_url + path.lstrip("/"), safe=_URL_SAFE)
        return (*hub_links, f'<{own}>; rel="self"'.encode())

    return links
