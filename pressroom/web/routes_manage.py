"""Unsubscribe (a page with one button, and the RFC 8058 one-click POST) and preferences.

``GET /unsubscribe/<token>`` never changes anything: mail scanners and link previewers
fetch GET links. ``POST /unsubscribe/<token>`` unsubscribes at once, needs no cookie, no
form field and no origin (RFC 8058 §3.2: the body is ``List-Unsubscribe=One-Click``),
and is idempotent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pressroom.models import ConsentSource, Subscriber, SubscriberStatus
from pressroom.store.subscribers import find_by_public_key, get_subscriber
from pressroom.subscribers.lifecycle import change_preferences, unsubscribe, unsubscribe_key
from pressroom.tokens import TokenPayload
from pressroom.web.common import (
    base_path,
    in_read,
    in_write,
    message,
    section_slugs,
    sections,
    verify_token,
)
from pressroom.web.context import WebContext
from pressroom.web.forms import FormError, parse_choices, read_form
from pressroom.web.security import client_ip, cross_site, form_token, form_token_ok

__all__ = ["preferences_page", "preferences_post", "unsubscribe_page", "unsubscribe_post"]


def _holder(conn: Connection, checked: TokenPayload) -> Subscriber | None:
    """The token's subscriber: by public key, or by id for a legacy unsubscribe token."""
    if checked.subscriber_id is not None:
        return get_subscriber(conn, checked.subscriber_id)
    return find_by_public_key(conn, checked.public_key)


def _unsubscribe(
    conn: Connection, checked: TokenPayload, now: datetime, source: ConsentSource, ip: str | None
) -> Subscriber | None:
    found = _holder(conn, checked)
    return None if found is None else unsubscribe(conn, found.id, now, source=source, ip=ip)


def _gone(ctx: WebContext) -> Response:
    return message(ctx, "链接无效", "这个链接对应的订阅已不存在。", 400)


def _unsubscribed(ctx: WebContext) -> Response:
    return ctx.pages.render(
        "unsubscribed", title="已退订", subscribe_url=f"{base_path(ctx)}subscribe"
    )


async def unsubscribe_page(ctx: WebContext, request: Request) -> Response:
    """``GET /unsubscribe/<token>``: the confirm button; changes nothing."""
    checked = await verify_token(ctx, request, "unsubscribe")
    if isinstance(checked, Response):
        return checked
    subscriber = await in_read(ctx, lambda conn: _holder(conn, checked))
    if subscriber is None:
        return _gone(ctx)
    if subscriber.status.suppressed:
        return _unsubscribed(ctx)
    token = str(request.path_params["token"])
    return ctx.pages.render(
        "unsubscribe",
        title="退订要闻邮件",
        email=subscriber.email,
        action_url=f"{base_path(ctx)}unsubscribe/{token}",
        preferences_url=ctx.link("preferences", subscriber.public_key),
    )


async def unsubscribe_post(ctx: WebContext, request: Request) -> Response:
    """``POST /unsubscribe/<token>``: one-click unsubscribe (RFC 8058), idempotent."""
    checked = await verify_token(ctx, request, "unsubscribe")
    if isinstance(checked, Response):
        return checked
    ip = client_ip(request)
    # A mail provider's RFC 8058 POST says so in its body; our own page's button sends
    # an empty form.
    one_click = b"List-Unsubscribe=One-Click" in await request.body()
    source = ConsentSource.ONE_CLICK if one_click else ConsentSource.WEB
    done = await in_write(ctx, lambda conn: _unsubscribe(conn, checked, ctx.clock(), source, ip))
    return _gone(ctx) if done is None else _unsubscribed(ctx)


async def _preferences(
    ctx: WebContext,
    subscriber: Subscriber,
    token: str,
    *,
    saved: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return ctx.pages.render(
        "preferences",
        status_code,
        title="订阅设置",
        email=subscriber.email,
        active=subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING),
        frequency=subscriber.frequency.value,
        chosen=set(subscriber.sections),
        sections=await sections(ctx),
        saved=saved,
        error=error,
        action_url=f"{base_path(ctx)}preferences/{token}",
        form_token=form_token(ctx.secret, token),
        subscribe_url=f"{base_path(ctx)}subscribe",
    )


async def preferences_page(ctx: WebContext, request: Request) -> Response:
    """``GET /preferences/<token>``: the current sections and frequency in a form."""
    checked = await verify_token(ctx, request, "preferences")
    if isinstance(checked, Response):
        return checked
    subscriber = await in_read(ctx, lambda conn: find_by_public_key(conn, checked.public_key))
    if subscriber is None:
        return _gone(ctx)
    saved = request.query_params.get("saved") == "1"
    return await _preferences(ctx, subscriber, str(request.path_params["token"]), saved=saved)


async def preferences_post(ctx: WebContext, request: Request) -> Response:
    """``POST /preferences/<token>``: save the choices, or unsubscribe (form-token checked)."""
    checked = await verify_token(ctx, request, "preferences")
    if isinstance(checked, Response):
        return checked
    token = str(request.path_params["token"])
    try:
        form = await read_form(request)
    except FormError as exc:
        return message(ctx, "无法提交", str(exc), 400)
    given = form.get("form_token")
    if cross_site(request, ctx.public_url) or not form_token_ok(
        ctx.secret, token, given if isinstance(given, str) else None
    ):
        return message(ctx, "无法提交", "请在本站的订阅设置页面提交表单。", 403)
    now = ctx.clock()
    if form.get("action") == "unsubscribe":
        ip = client_ip(request)
        done = await in_write(
            ctx,
            lambda conn: unsubscribe_key(
                conn, checked.public_key, now, source=ConsentSource.WEB, ip=ip
            ),
        )
        return _gone(ctx) if done is None else _unsubscribed(ctx)
    current = await in_read(ctx, lambda conn: find_by_public_key(conn, checked.public_key))
    if current is None:
        return _gone(ctx)
    try:
        chosen, frequency = parse_choices(form, await section_slugs(ctx), default_frequency=None)
    except FormError as exc:
        return await _preferences(ctx, current, token, error=str(exc), status_code=400)
    await in_write(
        ctx,
        lambda conn: change_preferences(
            conn, current.id, sections=chosen, frequency=frequency, now=now
        ),
    )
    return RedirectResponse(f"{base_path(ctx)}preferences/{token}?saved=1", status_code=303)
