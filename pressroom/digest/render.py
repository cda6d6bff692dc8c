"""Rendering a digest with Jinja2: HTML (CSS inlined), plain text and the subject.

Templates live in ``pressroom/templates/email/`` (``base.html``, ``digest.html``,
``digest.txt``, ``subject.txt``); an operator's ``[digest] templates_dir`` is searched
first. Autoescape is on for ``.html``. Rendering happens once per distinct content:
per-recipient values (greeting, address, links) are rendered as *marks*, opaque ASCII
words that :mod:`pressroom.digest.compose` replaces in the finished bytes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import css_inline
import jinja2

from pressroom.clock import display_time
from pressroom.digest.config import DigestConfig
from pressroom.digest.labels import window_label
from pressroom.digest.select import DigestContent
from pressroom.digest.text_wrap import wrap_text
from pressroom.errors import ConfigError
from pressroom.graphemes import cut_graphemes
from pressroom.models import Article, Frequency

__all__ = [
    "RECIPIENT_FIELDS",
    "RenderedDigest",
    "Renderer",
    "RunInfo",
]

RECIPIENT_FIELDS = ("greeting", "email", "unsubscribe_url", "preferences_url")
"""The per-recipient values templates may use as ``recipient.<field>``."""

SIGNATURE = "-- "
"""The line that opens a signature (RFC 3676 section 4.3): mail clients grey out or trim
what follows it."""
SUMMARY_CHARS = 160
FREQUENCY_LABELS = {Frequency.DAILY: "每日", Frequency.WEEKLY: "每周"}


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What every mail of one run shares: its frequency and selection window."""

    frequency: Frequency
    window_start: datetime
    window_end: datetime
    zone: ZoneInfo
    page_url: str | None = None
    """The run's public page (``[digest] archive``): the mails' "view in browser" link."""

    @property
    def label(self) -> str:
        """The days the articles were selected from (:func:`window_label`)."""
        return window_label(self.window_start, self.window_end, self.zone)


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    """One rendered content: subject, HTML and text, with recipient marks inside."""

    subject: str
    html: str
    text: str


def _summary(text: str) -> str:
    return cut_graphemes(" ".join(text.split()), SUMMARY_CHARS)


class Renderer:
    """Renders digests with the package templates and the operator's overrides.

    Args:
        config: the site, ``[digest] subject`` and ``templates_dir``.
        marks: per-recipient field name to the mark rendered in its place; by default
            fresh random marks (see :attr:`marks`).

    Raises:
        ConfigError: ``[digest] templates_dir`` is not a folder, or a template is broken.
    """

    def __init__(self, config: DigestConfig, marks: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._zone = config.zone
        nonce = secrets.token_hex(6)
        self.marks: dict[str, str] = dict(marks or {f: f"PRM{nonce}{f}X" for f in RECIPIENT_FIELDS})
        self._env = _environment(config)
        self._inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

    def render(self, content: DigestContent, run: RunInfo) -> RenderedDigest:
        """Render ``content`` for ``run``; recipient values stay as :attr:`marks`."""
        context = self._context(content, run)
        try:
            subject = " ".join(self._env.get_template("subject.txt").render(context).split())
            context["subject"] = subject
            html = self._env.get_template("digest.html").render(context)
            text = self._env.get_template("digest.txt").render(context)
        except jinja2.TemplateError as exc:
            raise ConfigError([f"digest templates: {_describe(exc)}"]) from exc
        try:
            html = self._inliner.inline(html)
        except css_inline.InlineError as exc:
            raise ConfigError([f"digest templates: digest.html: bad CSS: {exc}"]) from exc
        return RenderedDigest(subject, html, _tidy_text(text))

    def render_page(self, content: DigestContent, run: RunInfo) -> RenderedDigest:
        """The run's public page (``archive.html``): ``content`` without anything personal.

        Its CSS stays in ``<style>`` (a browser reads it); the text is empty.

        Raises:
            ConfigError: a template is broken.
        """
        context = self._context(content, run)
        context["subscribe_url"] = urljoin(self._config.public_url, "subscribe")
        try:
            subject = " ".join(self._env.get_template("subject.txt").render(context).split())
            context["subject"] = subject
            page = self._env.get_template("archive.html").render(context)
        except jinja2.TemplateError as exc:
            raise ConfigError([f"digest templates: {_describe(exc)}"]) from exc
        return RenderedDigest(subject, page, "")

    def render_index(self, context: Mapping[str, Any]) -> str:
        """The archive's index page (``archive_index.html``) for ``context``.

        Raises:
            ConfigError: the template is broken.
        """
        try:
            return self._env.get_template("archive_index.html").render(context)
        except jinja2.TemplateError as exc:
            raise ConfigError([f"digest templates: {_describe(exc)}"]) from exc

    def _context(self, content: DigestContent, run: RunInfo) -> dict[str, Any]:
        config = self._config
        label = run.label
        numbers = iter(range(1, content.count + 1))
        number_width = len(str(content.count))
        groups = [
            {
                "section_name": group.section.name,
                "slug": group.section.slug,
                "articles": [self._item(a, next(numbers), number_width) for a in group.articles],
            }
            for group in content.groups
        ]
        titles = [_one_line(a.title) for group in content.groups for a in group.articles]
        return {
            "site": config.site_name,
            "site_name": config.site_name,
            "site_url": config.site_url,
            "language": config.language,
            "postal_address": config.postal_address,
            "period": label,
            "period_label": label,
            "frequency_label": FREQUENCY_LABELS[run.frequency],
            "count": content.count,
            "page_url": run.page_url,
            "first_title": titles[0] if titles else "",
            "preheader": " · ".join(titles[:3]),
            "groups": groups,
            "indent": " " * (number_width + 2),
            "recipient": dict(self.marks),
        }

    def _item(self, article: Article, number: int, number_width: int) -> dict[str, Any]:
        return {
            "number": number,
            "marker": f"{number:>{number_width}}.",
            "title": _one_line(article.title),
            "url": self.web_url(article.url) or self._config.site_url,
            "date": display_time(article.published_at, self._zone),
            "summary": _summary(article.summary),
            "image_url": self.web_url(article.image_url),
        }

    def web_url(self, value: str | None) -> str | None:
        """``value`` made absolute against the site, if it is an http(s) URL; else None.

        Autoescaping keeps a URL from breaking out of its attribute, not from being a
        ``javascript:`` or ``data:`` link: only web URLs reach a mail.
        """
        if not value:
            return None
        absolute = urljoin(self._config.site_url, value.strip())
        parts = urlsplit(absolute)
        return absolute if parts.scheme in ("http", "https") and parts.netloc else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy_text(text: str) -> str:
    """Trailing spaces off (but the signature separator's, RFC 3676 ``-- ``), at most one
    blank line in a row, every line wrapped to 78 display columns."""
    lines = [line if line == SIGNATURE else line.rstrip() for line in text.splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return wrap_text(tidy)


def _environment(config: DigestConfig) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    folder = config.templates_dir
    if folder is not None:
        if not folder.is_dir():
            raise ConfigError([f"digest.templates_dir: {folder} is not a folder"])
        loaders.append(jinja2.FileSystemLoader(folder))
    loaders.append(jinja2.DictLoader({"config/subject": config.rules.subject}))
    loaders.append(jinja2.PackageLoader("pressroom", "templates/email"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _describe(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.name or exc.filename}: line {exc.lineno}: {exc.message}"
    return str(exc)
