"""Helpers the route modules share: sections, token checks, error pages, thread offloading."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pressroom.models import Section
from pressroom.store.articles import list_sections
from pressroom.tokens import BadToken, TokenPayload, read_token
from pressroom.web.context import WebContext
from pressroom.web.security import client_key

__all__ = [
    "base_path",
    "in_read",
    "in_write",
    "message",
    "section_names",
    "section_slugs",
    "sections",
    "too_many",
    "verify_token",
]

T = TypeVar("T")


def base_path(ctx: WebContext) -> str:
    """The path part of the public URL (``/`` or ``/news/``) for form actions and links."""
    return urlsplit(ctx.public_url).path or "/"


async def in_read(ctx: WebContext, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a read transaction on a worker thread (the store is synchronous)."""

    def run() -> T:
        with ctx.store.read() as conn:
            return work(conn)

    return await run_in_threadpool(run)


async def in_write(ctx: WebContext, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction on a worker thread."""

    def run() -> T:
        with ctx.store.write() as conn:
            return work(conn)

    return await run_in_threadpool(run)


SECTIONS_TTL_S = 30.0
"""Sections change with the config (at a restart) or an import; a short cache is enough."""


async def sections(ctx: WebContext) -> list[Section]:
    """Every section in site order (the choices on the forms), cached for a few seconds."""
    cached = ctx.memo.get("sections")
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return list(cached[1])
    found = await in_read(ctx, list_sections)
    ctx.memo["sections"] = (now + SECTIONS_TTL_S, tuple(found))
    return found


async def section_slugs(ctx: WebContext) -> set[str]:
    """The known section slugs (what a posted form may choose)."""
    return {s.slug for s in await sections(ctx)}


async def section_names(ctx: WebContext, slugs: Iterable[str]) -> list[str]:
    """The names of the sections ``slugs`` for display (an unknown slug shows as itself)."""
    names = {s.slug: s.name for s in await sections(ctx)}
    return [names.get(slug, slug) for slug in slugs]


def message(
    ctx: WebContext,
    title: str,
    text: str,
    status_code: int,
    *,
    link: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A short page that says one thing (errors, notices)."""
    return ctx.pages.render(
        "message",
        status_code,
        headers=headers,
        title=title,
        text=text,
        problem=status_code >= 400,
        link_url=link[0] if link else None,
        link_text=link[1] if link else None,
    )


def too_many(ctx: WebContext, wait: float) -> Response:
    """429 with Retry-After (RFC 6585)."""
    seconds = max(1, int(wait + 0.999))
    return message(
        ctx,
        "请求太频繁",
        f"请求太频繁，请 {seconds} 秒后再试。",
        429,
        headers={"Retry-After": str(seconds)},
    )


async def verify_token(
    ctx: WebContext, request: Request, purpose: str, max_age: int | None = None
) -> TokenPayload | Response:
    """The token in the path if it is ours, for ``purpose`` and fresh; else the 400/429 page."""
    wait = await ctx.token_limit.check(client_key(request))
    if wait:
        return too_many(ctx, wait)
    token = str(request.path_params.get("token", ""))
    try:
        return read_token(ctx.secret, token, purpose, ctx.clock(), max_age)
    except BadToken as exc:
        expired = "expired" in str(exc)
        text = (
            "这个链接已过期，请重新订阅。" if expired else "这个链接无效，请使用邮件中的完整链接。"
        )
        return message(ctx, "链接无效", text, 400, link=(f"{base_path(ctx)}subscribe", "重新订阅"))
