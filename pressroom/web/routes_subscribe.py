"""Subscribe (double opt-in) and confirm.

``POST /subscribe`` answers the same page whatever the address's state, so the page never
tells whether an address is subscribed; the mail (a confirm link, or for an active address
a notice with its preferences link) goes out after the response.
"""

from __future__ import annotations

import logging
from functools import partial

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from pressroom.models import Subscriber
from pressroom.subscribers.confirm_mail import build_confirm_message
from pressroom.subscribers.lifecycle import MailKind, confirm, request_subscription
from pressroom.web.common import (
    base_path,
    in_write,
    message,
    section_names,
    section_slugs,
    sections,
    too_many,
    verify_token,
)
from pressroom.web.context import WebContext
from pressroom.web.forms import FormError, RawSubscribe, parse_subscribe, raw_subscribe, read_form
from pressroom.web.security import client_key, cross_site

__all__ = ["confirm_page", "send_subscription_mail", "subscribe_page", "subscribe_post"]

log = logging.getLogger("pressroom.web")


async def subscribe_page(ctx: WebContext, request: Request) -> Response:
    """``GET /subscribe``: the form on its own page."""
    return await _form_page(ctx, RawSubscribe(), None, 200)


async def _form_page(
    ctx: WebContext, raw: RawSubscribe, error: str | None, status_code: int
) -> Response:
    return ctx.pages.render(
        "subscribe",
        status_code,
        title="订阅要闻邮件",
        form=raw,
        error=error,
        sections=await sections(ctx),
        action_url=f"{base_path(ctx)}subscribe",
        feeds_missing=False,
    )


async def subscribe_post(ctx: WebContext, request: Request) -> Response:
    """``POST /subscribe``: validate, record a pending subscriber, mail the link."""
    if cross_site(request, ctx.public_url):
        return message(ctx, "无法提交", "请在本站的订阅页面提交表单。", 403)
    wait = ctx.subscribe_limit.hit(client_key(request))
    if wait:
        return too_many(ctx, wait)
    try:
        form = await read_form(request)
    except FormError as exc:
        return await _form_page(ctx, RawSubscribe(), str(exc), 400)
    raw = raw_subscribe(form)
    if form.get("website"):  # the hidden honeypot: a bot filled it; answer as usual
        return _sent_page(ctx, raw.email)
    try:
        wanted = parse_subscribe(form, await section_slugs(ctx))
    except FormError as exc:
        return await _form_page(ctx, raw, str(exc), 400)
    subscriber, kind = await in_write(
        ctx, lambda conn: request_subscription(conn, wanted, ctx.clock())
    )
    task = None
    if not ctx.address_limit.hit(subscriber.email):
        task = BackgroundTask(partial(send_subscription_mail, ctx, subscriber, kind))
    else:
        log.info("subscribe: mail to subscriber %d held back (per-address limit)", subscriber.id)
    return _sent_page(ctx, raw.email, task)


def _sent_page(ctx: WebContext, email: str, task: BackgroundTask | None = None) -> Response:
    response = ctx.pages.render(
        "subscribe_sent",
        title="请查收确认邮件",
        email=email,
        max_age_days=max(1, ctx.settings.web.confirm_max_age // 86400),
    )
    response.background = task
    return response


async def send_subscription_mail(ctx: WebContext, subscriber: Subscriber, kind: MailKind) -> None:
    """Build and send the confirm (or notice) mail; failures are logged, never shown."""
    settings = ctx.settings
    try:
        msg = build_confirm_message(
            ctx.pages.env,
            subscriber,
            kind=kind,
            link_url=ctx.link(kind.link_purpose, subscriber.id),
            site=settings.site,
            mail=settings.mail,
            max_age=settings.web.confirm_max_age,
            now=ctx.clock(),
            secret=ctx.secret,
        )
        await ctx.send(msg)
    except Exception:  # one recipient's mail; the page has already answered
        log.exception("subscribe: cannot send the %s mail to subscriber %d", kind, subscriber.id)


async def confirm_page(ctx: WebContext, request: Request) -> Response:
    """``GET /confirm/<token>``: activate a pending subscriber."""
    checked = verify_token(ctx, request, "confirm", ctx.settings.web.confirm_max_age)
    if isinstance(checked, Response):
        return checked
    subscriber = await in_write(ctx, lambda conn: confirm(conn, checked.subscriber_id, ctx.clock()))
    if subscriber is None:
        return message(
            ctx,
            "链接已失效",
            "这个确认链接已失效。如需订阅，请重新提交订阅表单。",
            400,
            link=(f"{base_path(ctx)}subscribe", "重新订阅"),
        )
    return ctx.pages.render(
        "confirmed",
        title="订阅成功",
        frequency=subscriber.frequency.value,
        section_names=await section_names(ctx, subscriber.sections),
        preferences_url=ctx.link("preferences", subscriber.id),
    )
