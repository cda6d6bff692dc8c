"""``GET /``: the feed index with the subscribe form; ``GET /<path>`` that is no file: 404.

The index page the feed builder wrote gets the subscribe form inserted where it has the
marker ``<!-- pressroom:subscribe -->`` (else before ``</body>``) and the form's ``<style>``
before ``</head>`` (a ``<style>`` in the body is not valid HTML); its ETag is computed on
the bytes actually sent, so 304s stay correct when sections change.
"""

from __future__ import annotations

import re

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from pressroom.web.common import base_path, message, sections
from pressroom.web.context import WebConfig, WebContext
from pressroom.web.file_answer import answer
from pressroom.web.files import FeedFile, make_feed_file
from pressroom.web.forms import RawSubscribe

__all__ = ["JUMP_LINK", "MARKER", "cache_seconds", "index_page", "insert_form", "not_a_file"]

MARKER = b"<!-- pressroom:subscribe -->"
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_H1_END = re.compile(rb"</h1\s*>", re.IGNORECASE)
JUMP_LINK = '<p class="pr-subscribe-link"><a href="#pr-subscribe">邮件订阅要闻 ↓</a></p>'.encode()
_HAS_FORM = re.compile(rb"<form[^>]+action=\"[^\"]*subscribe\"", re.IGNORECASE)


def cache_seconds(config: WebConfig) -> int:
    """``Cache-Control: max-age`` of the served files."""
    # Readers poll on the feed's <ttl> (minutes); revalidating sooner costs a 304.
    return min(config.feed_ttl * 60, 300)


def insert_form(page: bytes, form_html: bytes, style_html: bytes = b"") -> bytes:
    """``page`` with ``form_html`` at the marker, else before the last ``</body>``, and
    ``style_html`` before ``</head>`` (with the form when the page has no head end tag).

    Without a marker the form goes to the end of a long list of feeds, so a jump link to
    it goes under the first heading.
    """
    if MARKER not in page and _HAS_FORM.search(page):
        return page  # the builder already put a subscribe form there
    head_end = _HEAD_END.search(page)
    if head_end is None:
        form_html = style_html + form_html
    else:
        page = page[: head_end.start()] + style_html + page[head_end.start() :]
    if MARKER in page:
        return page.replace(MARKER, form_html, 1)
    ends = list(_BODY_END.finditer(page))
    if not ends:
        return page + form_html
    cut = ends[-1].start()
    page = page[:cut] + form_html + page[cut:]
    heading = _H1_END.search(page)
    if heading is None or heading.end() > cut:
        return page
    return page[: heading.end()] + JUMP_LINK + page[heading.end() :]


def _style_html(ctx: WebContext) -> bytes:
    return ctx.pages.env.get_template("web/_subscribe_style.html").render().encode("utf-8")


async def _form_html(ctx: WebContext) -> bytes:
    html = ctx.pages.env.get_template("web/_subscribe_inject.html").render(
        {
            **ctx.pages.common,
            "form": RawSubscribe(),
            "error": None,
            "sections": await sections(ctx),
            "action_url": f"{base_path(ctx)}subscribe",
        }
    )
    return html.encode("utf-8")


async def _index_with_form(ctx: WebContext, loaded: FeedFile) -> FeedFile:
    """The index with the form, rebuilt only when the page or the sections change."""
    form_html = await _form_html(ctx)
    key = (loaded.etag_hash, hash(form_html))
    cached = ctx.memo.get("index")
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    body = insert_form(loaded.body, form_html, _style_html(ctx))
    page = make_feed_file(body, loaded.media_type, loaded.modified.timestamp())
    ctx.memo["index"] = (key, page)
    return page


async def index_page(ctx: WebContext, request: Request) -> Response:
    """``GET /``: the feed index with the subscribe form, or the form alone before a build."""
    loaded = await to_thread.run_sync(ctx.files.find, "/index.html")
    if loaded is None:
        return ctx.pages.render(
            "subscribe",
            title=ctx.config.site.name,
            form=RawSubscribe(),
            error=None,
            sections=await sections(ctx),
            action_url=f"{base_path(ctx)}subscribe",
            feeds_missing=True,
        )
    page = await _index_with_form(ctx, loaded)
    reply = answer(page, request.headers, cache_seconds=cache_seconds(ctx.config))
    response = Response(reply.body, status_code=reply.status)
    response.raw_headers = reply.headers
    return response


async def not_a_file(ctx: WebContext, request: Request) -> Response:
    """``GET /<path>`` that :class:`~pressroom.web.file_server.FileServer` did not answer:
    no such file (or not one that is served), so 404."""
    return message(ctx, "找不到页面", "找不到这个页面。", 404, link=(base_path(ctx), "返回首页"))
