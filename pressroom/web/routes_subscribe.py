"""Subscribe (double opt-in) and confirm.

``POST /subscribe`` answers the same page, in the same time, whatever the address's state
(unknown, pending, active, unsubscribed ...), so neither the page nor its timing tells
whether an address is subscribed; the mail (a confirm link, or for an active address a
notice with its preferences link) goes out after the response, on the same path for all.

Confirming takes two steps: ``GET /confirm/<token>`` shows a button and changes nothing
(scanners and previewers fetch links), its ``POST`` (with the page's form token)
confirms. A confirm token is bound to the open request's nonce
(:mod:`pressroom.subscribers.lifecycle`), so a newer request, an unsubscribe or a
confirmation voids it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from pressroom.models import SubscriberStatus
from pressroom.store.subscribers import find_by_public_key
from pressroom.subscribers.confirm_mail import build_confirm_message
from pressroom.subscribers.lifecycle import (
    SubscriptionRequest,
    confirm,
    open_request,
    request_subscription,
)
from pressroom.web.common import (
    base_path,
    in_read,
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
from pressroom.web.security import client_ip, client_key, cross_site, form_token

__all__ = [
    "SUBSCRIBE_MIN_SECONDS",
    "confirm_page",
    "confirm_post",
    "send_subscription_mail",
    "subscribe_page",
    "subscribe_post",
]

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
    """``POST /subscribe``: validate, record the request, mail the link (or a notice)."""
    started = time.monotonic()
    if cross_site(request, ctx.public_url):
        return message(ctx, "无法提交", "请在本站的订阅页面提交表单。", 403)
    wait = await ctx.subscribe_limit.check(client_key(request))
    if wait:
        return too_many(ctx, wait)
    try:
        form = await read_form(request)
    except FormError as exc:
        return await _form_page(ctx, RawSubscribe(), str(exc), 400)
    raw = raw_subscribe(form)
    if form.get("website"):  # the hidden honeypot: a bot filled it; answer as usual
        return await _padded(_sent_page(ctx, raw.email), started)
    try:
        utf8 = ctx.config.mail.accepts_utf8_local_parts
        wanted = parse_subscribe(form, await section_slugs(ctx), smtputf8=utf8)
    except FormError as exc:
        return await _form_page(ctx, raw, str(exc), 400)
    ip = client_ip(request)
    asked = await in_write(ctx, lambda conn: request_subscription(conn, wanted, ctx.clock(), ip=ip))
    allowed = not await ctx.address_limit.check(asked.subscriber.email) and asked.send
    task = BackgroundTask(partial(send_subscription_mail, ctx, asked, send=allowed))
    return await _padded(_sent_page(ctx, raw.email, task), started)


SUBSCRIBE_MIN_SECONDS = 0.15
"""Every accepted subscribe answer takes at least this long. The work is nearly the same for
unknown, pending, active and unsubscribed addresses (one lookup, one write, a mail sent
after the answer), and the padding hides what is left, so the time cannot tell who is
subscribed. Far above the work itself on a loaded machine (a few ms)."""


async def _padded(response: Response, started: float) -> Response:
    rest = SUBSCRIBE_MIN_SECONDS - (time.monotonic() - started)
    if rest > 0:
        await asyncio.sleep(rest)
    return response


def _sent_page(ctx: WebContext, email: str, task: BackgroundTask | None = None) -> Response:
    response = ctx.pages.render(
        "subscribe_sent",
        title="请查收确认邮件",
        email=email,
        max_age_days=max(1, ctx.config.web.confirm_max_age // 86400),
    )
    response.background = task
    return response


async def send_subscription_mail(
    ctx: WebContext, asked: SubscriptionRequest, *, send: bool = True
) -> None:
    """Build and send the confirm (or notice) mail; failures are logged, never shown.

    With ``send`` false (the address's hourly limit is reached) the mail is built all the
    same and dropped, so the work after the answer is alike for every address.
    """
    config = ctx.config
    subscriber, kind = asked.subscriber, asked.mail
    try:
        msg = build_confirm_message(
            ctx.pages.env,
            subscriber,
            kind=kind,
            link_url=ctx.link(kind.link_purpose, subscriber.public_key, asked.nonce),
            site=config.site,
            mail=config.mail,
            max_age=config.web.confirm_max_age,
            now=ctx.clock(),
            secret=ctx.secret,
        )
        if send:
            await ctx.send(msg)
        else:
            log.info(
                "subscribe: mail to subscriber %d held back (per-address limit)", subscriber.id
            )
    except Exception:  # one recipient's mail; the page has already answered
        log.exception("subscribe: cannot send the %s mail to subscriber %d", kind, subscriber.id)


async def _link_void(ctx: WebContext, public_key: str) -> Response:
    """The answer to a confirm link whose request is closed: "already confirmed" when the
    subscriber is active (a second click, harmless), else "this link is void"."""
    found = await in_read(ctx, lambda conn: find_by_public_key(conn, public_key))
    if found is not None and found.status == SubscriberStatus.ACTIVE:
        return message(
            ctx,
            "订阅已确认",
            "这个订阅已经确认，无需再做什么。",
            200,
            link=(ctx.link("preferences", found.public_key), "修改栏目与频率"),
        )
    return message(
        ctx,
        "链接已失效",
        "这个确认链接已失效。如需订阅，请重新提交订阅表单。",
        400,
        link=(f"{base_path(ctx)}subscribe", "重新订阅"),
    )


async def confirm_page(ctx: WebContext, request: Request) -> Response:
    """``GET``/``HEAD /confirm/<token>``: a page with one button; changes nothing.

    Mail scanners and link previewers fetch every link in a mail; only the button's
    ``POST`` confirms.
    """
    checked = await verify_token(ctx, request, "confirm", ctx.config.web.confirm_max_age)
    if isinstance(checked, Response):
        return checked
    nonce = checked.nonce or ""
    subscriber = await in_read(ctx, lambda conn: open_request(conn, checked.public_key, nonce))
    if subscriber is None:
        return await _link_void(ctx, checked.public_key)
    token = str(request.path_params["token"])
    return ctx.pages.render(
        "confirm",
        title="确认订阅",
        email=subscriber.email,
        action_url=f"{base_path(ctx)}confirm/{token}",
        form_token=form_token(ctx.secret, token),
    )


async def confirm_post(ctx: WebContext, request: Request) -> Response:
    """``POST /confirm/<token>``: the button: activate the subscriber.

    The link's token is the secret (only the mailbox got it), so the POST needs no form
    token of its own; a cross-site POST is still refused. Scanners that prefetch links
    use GET or HEAD, which change nothing.
    """
    checked = await verify_token(ctx, request, "confirm", ctx.config.web.confirm_max_age)
    if isinstance(checked, Response):
        return checked
    if cross_site(request, ctx.public_url):
        return message(ctx, "无法提交", "请在本站的确认页面点击按钮。", 403)
    nonce, ip = checked.nonce or "", client_ip(request)
    subscriber = await in_write(
        ctx, lambda conn: confirm(conn, checked.public_key, nonce, ctx.clock(), ip=ip)
    )
    if subscriber is None:
        return await _link_void(ctx, checked.public_key)
    return ctx.pages.render(
        "confirmed",
        title="订阅成功",
        frequency=subscriber.frequency.value,
        section_names=await section_names(ctx, subscriber.sections),
        preferences_url=ctx.link("preferences", subscriber.public_key),
    )
