"""``GET /`` and ``GET /<path>``: the built feed files, with the subscribe form on the index.

The index page the feed builder wrote gets the subscribe form inserted where it has the
marker ``<!-- pressroom:subscribe -->`` (else before ``</body>``); its ETag is computed on
the bytes actually sent, so 304s stay correct when sections change.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from pressroom.web.common import base_path, message, sections
from pressroom.web.context import WebContext
from pressroom.web.files import FeedFile, file_response, make_feed_file
from pressroom.web.forms import RawSubscribe

__all__ = ["JUMP_LINK", "MARKER", "feed_file", "index_page", "insert_form"]

MARKER = b"<!-- pressroom:subscribe -->"
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
_H1_END = re.compile(rb"</h1\s*>", re.IGNORECASE)
JUMP_LINK = '<p class="pr-subscribe-link"><a href="#pr-subscribe">邮件订阅要闻 ↓</a></p>'.encode()
_HAS_FORM = re.compile(rb"<form[^>]+action=\"[^\"]*subscribe\"", re.IGNORECASE)


def _cache_seconds(ctx: WebContext) -> int:
    # Readers poll on the feed's <ttl> (minutes); revalidating sooner costs a 304.
    return min(ctx.config.feed_ttl * 60, 300)


def insert_form(page: bytes, form_html: bytes) -> bytes:
    """``page`` with ``form_html`` at the marker, else before the last ``</body>``.

    Without a marker the form goes to the end of a long list of feeds, so a jump link to
    it goes under the first heading.
    """
    if MARKER in page:
        return page.replace(MARKER, form_html, 1)
    if _HAS_FORM.search(page):
        return page  # the builder already put a subscribe form there
    ends = list(_BODY_END.finditer(page))
    if not ends:
        return page + form_html
    cut = ends[-1].start()
    page = page[:cut] + form_html + page[cut:]
    heading = _H1_END.search(page)
    if heading is None or heading.end() > cut:
        return page
    return page[: heading.end()] + JUMP_LINK + page[heading.end() :]


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
    body = insert_form(loaded.body, form_html)
    page = make_feed_file(body, loaded.media_type, loaded.modified.timestamp())
    ctx.memo["index"] = (key, page)
    return page


async def index_page(ctx: WebContext, request: Request) -> Response:
    """``GET /``: the feed index with the subscribe form, or the form alone before a build."""
    target = ctx.files.locate("index.html")
    loaded = ctx.files.load(target) if target is not None else None
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
    response = file_response(page, request.headers, _cache_seconds(ctx))
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def feed_file(ctx: WebContext, request: Request) -> Response:
    """``GET /<path>``: one file of the output directory, or 404."""
    target = ctx.files.locate(str(request.path_params.get("path", "")))
    loaded: FeedFile | None = ctx.files.load(target) if target is not None else None
    if loaded is None:
        return message(
            ctx, "找不到页面", "找不到这个页面。", 404, link=(base_path(ctx), "返回首页")
        )
    response = file_response(loaded, request.headers, _cache_seconds(ctx))
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not loaded.media_type.startswith("text/html"):
        response.headers["Access-Control-Allow-Origin"] = "*"  # web-based readers fetch feeds
    return response
