"""What the feeds build reads from the settings, and the key of everything that shapes it.

The composition root (:func:`pressroom.wiring.feed_config`) makes a :class:`FeedConfig`
from the settings' sections; the modules of :mod:`pressroom.feeds` take it (or one of its
parts), never the whole settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pressroom import __version__
from pressroom.config import DigestSettings, FeedsSettings, SectionSettings, SiteSettings

__all__ = ["RENDER_VERSION", "FeedConfig"]

RENDER_VERSION = "3"
"""Bump when the output of the same articles changes, so every feed is rebuilt."""


@dataclass(frozen=True, eq=False)
class FeedConfig:
    """The settings a feeds build reads.

    Build it once and keep it (the worker does): :attr:`settings_key` is computed once per
    config.

    Attributes:
        site: ``[site]``: name, home URL, language, time zone, logo, icon, copyright.
        feeds: ``[feeds]``: formats, items per feed, content, TTL, WebSub hubs, watch, lease.
        public_url: where the feed files are served (``[feeds]``, else ``[web] public_url``).
        rules: ``[digest]``: the importance rule of the ``important`` feed.
        sections: ``[[sections]]``: names and weights that override the store's, pages.
        output_dir: the resolved ``[feeds] output_dir``.
    """

    site: SiteSettings
    feeds: FeedsSettings
    public_url: str
    rules: DigestSettings
    sections: tuple[SectionSettings, ...]
    output_dir: Path

    @property
    def section_weights(self) -> dict[str, float]:
        """Section slug to weight, as configured (they override the store's)."""
        return {s.slug: s.weight for s in self.sections}

    @cached_property
    def settings_key(self) -> str:
        """A digest of every setting that shapes the output, plus the output folder.

        Computed once per config: dumping the settings costs more than the whole
        no-change fast path.
        """
        shaping = {
            "site": self.site.model_dump(mode="json"),
            # how often to look and who builds shape no byte of the output
            "feeds": self.feeds.model_dump(mode="json", exclude={"watch", "lease"}),
            "public_url": self.public_url,
            "digest": self.rules.model_dump(mode="json", exclude={"subject", "templates_dir"}),
            "sections": [s.model_dump(mode="json") for s in self.sections],
            "output_dir": str(self.output_dir),
            "render": RENDER_VERSION,
            "version": __version__,
        }
        text = json.dumps(shaping, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
