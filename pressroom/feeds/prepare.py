"""Turning a stored article into a safe :class:`~pressroom.feeds.items.FeedItem`.

Bad articles never break a feed: characters XML cannot carry are removed, a missing title
is taken from the summary (or the article is skipped), the body goes through an nh3
allowlist that repairs broken markup and drops scripts, iframes, event handlers and
``javascript:`` URLs, and every URL is made absolute against the site's base URL. Each
repair or skip is logged with the article's URL.
"""

from __future__ import annotations

import html
import logging
import mimetypes
import re
from urllib.parse import quote, urljoin, urlsplit

import nh3

from pressroom.feeds.feed_config import FeedConfig
from pressroom.feeds.items import FeedItem
from pressroom.graphemes import cut_graphemes
from pressroom.models import Article, split_credits

__all__ = [
    "ALLOWED_TAGS",
    "absolute_url",
    "clean_text",
    "cut_summary",
    "plain_text",
    "prepare_item",
    "sanitize_html",
]

log = logging.getLogger("pressroom.feeds")

ALLOWED_TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div"}
    | {"dl", "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i"}
    | {"img", "ins", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong"}
    | {"sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
)
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
    "q": {"cite"},
    "blockquote": {"cite"},
}
_URL_SCHEMES = {"http", "https", "mailto"}

# XML 1.0 forbids C0 controls except tab/newline/CR, lone surrogates and U+FFFE/U+FFFF;
# C1 controls and DEL are legal but invisible trouble in readers, so they go too.
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_TITLE_FROM_SUMMARY_CHARS = 40
_BODY_CHARS_PER_TEXT_CHAR = 20
_UNSAFE_IN_URL = re.compile(r'[\s"<>\\^`{|}]')


def clean_text(value: str) -> str:
    """``value`` without the characters XML cannot carry (controls, lone surrogates)."""
    return _INVALID_CHARS.sub("", value)


def plain_text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed, entities decoded."""
    text = clean_text(fragment)
    if "<" in text or "&" in text:  # most summaries are plain text: skip the parser
        text = html.unescape(nh3.clean(text, tags=set(), clean_content_tags={"script", "style"}))
    return clean_text(_SPACES.sub(" ", text).strip())


def cut_summary(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters as a reader counts them (grapheme
    clusters: an emoji sequence or a letter and its accents are one), ending with … when
    cut; backs up to a space when that keeps a Latin word whole without losing much."""
    return cut_graphemes(text, chars)


def absolute_url(url: str, base_url: str) -> str | None:
    """``url`` made absolute against ``base_url``; None unless the result is http(s)."""
    cleaned = clean_text(url).strip()
    joined = cleaned if cleaned.startswith(("https://", "http://")) else urljoin(base_url, cleaned)
    parts = urlsplit(joined)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    # Atom ids and links must be IRIs: spaces, quotes and the like are percent-encoded.
    return _UNSAFE_IN_URL.sub(lambda m: quote(m.group(), safe=""), joined)


def sanitize_html(fragment: str, base_url: str) -> str:
    """``fragment`` through the allowlist, markup repaired, every URL absolute.

    Scripts, styles, iframes, forms, event handlers and non-http(s)/mailto URLs are
    removed; relative ``href``/``src`` values are resolved against ``base_url``.
    """
    cleaned = nh3.clean(
        clean_text(fragment),
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style", "iframe", "object", "template", "noscript"},
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        url_relative=("rewrite_with_base", base_url),
        link_rel="noopener noreferrer",
    )
    # html5ever turns some numeric references (&#1;) into raw controls: remove them again.
    return clean_text(cleaned).strip()


def _image_type(url: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def _title(article: Article, summary: str) -> str | None:
    cleaned = clean_text(article.title)
    title = _SPACES.sub(" ", cleaned).strip()
    if title:
        if cleaned != article.title:
            log.warning("%s: removed characters XML cannot carry from the title", article.url)
        return title
    if not summary:
        log.warning("%s: skipped: no title and no text to make one from", article.url)
        return None
    log.warning("%s: the title was empty; used the start of the summary", article.url)
    return cut_summary(summary, _TITLE_FROM_SUMMARY_CHARS)


def _summary(article: Article, chars: int) -> str:
    # A summary needs only the start of a body: sanitising a 1 MB body costs ~0.5 s.
    head = article.body_html[: chars * _BODY_CHARS_PER_TEXT_CHAR + 4096]
    source = plain_text(article.summary) or plain_text(head)
    return cut_summary(source, chars)


def _content(article: Article, config: FeedConfig) -> str | None:
    if config.feeds.content != "full" or not article.body_html.strip():
        return None
    content = sanitize_html(article.body_html, config.site.base_url)
    return content or None


def prepare_item(article: Article, config: FeedConfig, section_name: str) -> FeedItem | None:
    """``article`` as a clean feed entry, or None (logged) when it cannot be one.

    Args:
        article: a published article from the store.
        config: the site (base URL, name) and feed (content, summary length) settings.
        section_name: the display name of the article's section, used as its category.
    """
    link = absolute_url(article.url, config.site.base_url)
    if link is None:
        log.warning("%s: skipped: the URL is not an http(s) address", article.url)
        return None
    summary = _summary(article, config.feeds.summary_chars)
    title = _title(article, summary)
    if title is None:
        return None
    image = absolute_url(article.image_url, config.site.base_url) if article.image_url else None
    if article.image_url and image is None:
        log.warning("%s: dropped the image URL %r", article.url, article.image_url)
    credits = split_credits(clean_text(article.authors))
    authors = tuple(c.name for c in credits) or (clean_text(config.site.name),)
    return FeedItem(
        id=link,
        link=link,
        title=title,
        published=article.published_at,
        updated=max(article.updated_at, article.published_at),
        authors=authors,
        category=clean_text(section_name),
        summary=summary,
        content_html=_content(article, config),
        image_url=image,
        image_type=_image_type(image) if image else None,
    )
