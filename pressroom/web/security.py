"""Guards for the forms: cross-site posting checks, form tokens and security headers.

:class:`SecurityHeaders` puts :data:`PAGE_HEADERS` on every HTML response the app sends,
whoever made it (our templates, the ``index.html`` the feed builder wrote, a file of the
output folder, the 404/405/413 pages), and ``nosniff`` plus the Referrer-Policy on every
other response.

Two independent checks stop a foreign page from posting our forms (OWASP CSRF cheat
sheet): the browser's ``Origin`` / ``Sec-Fetch-Site`` headers must not name another site,
and the preferences form carries a token derived from the secret and the page's own link
token, which a foreign page cannot know. The RFC 8058 one-click unsubscribe POST is sent
by mail providers' servers without cookies or origin, so it is exempt by design.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "PAGE_HEADERS",
    "SecurityHeaders",
    "client_ip",
    "client_key",
    "cross_site",
    "form_token",
    "form_token_ok",
]

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
"""Headers for every page we render: no external assets, no framing, and no Referer to
other sites (our URLs hold bearer tokens; same-origin keeps Origin on our own posts)."""

EVERY_RESPONSE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": PAGE_HEADERS["Referrer-Policy"],
}
"""Feed files, JSON and plain text get these (a feed reader ignores them; a browser must
not sniff a feed into HTML)."""


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, the page headers on HTML.

    A header the endpoint set itself is kept (a page may tighten its own policy).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").lower().startswith("text/html")
                for name, value in (PAGE_HEADERS if html else EVERY_RESPONSE_HEADERS).items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request: Request, public_url: str) -> bool:
    """True when the browser says the form was posted from another site."""
    # Fetch metadata is the browser's own verdict; trust it when present (it stays right
    # where Origin is "null" for privacy reasons).
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site:
        return fetch_site == "cross-site"
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":  # sandboxed frames, data: URLs, file:// pages
        return True
    own = {_origin(public_url), _origin(str(request.base_url))}
    return origin.lower() not in own


def form_token(secret: str, link_token: str) -> str:
    """The hidden form field that proves the form came from our own page."""
    mac = hmac.new(secret.encode("utf-8"), b"form|" + link_token.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:32]


def form_token_ok(secret: str, link_token: str, given: str | None) -> bool:
    """Constant-time check of a posted form token."""
    return given is not None and hmac.compare_digest(form_token(secret, link_token), given)


def client_ip(request: Request) -> str | None:
    """The client's address (uvicorn resolves trusted proxies) when it parses as one, else
    None: a proxy's garbage ``X-Forwarded-For`` is never recorded as consent evidence."""
    host = request.client.host if request.client is not None else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def client_key(request: Request) -> str:
    """What the rate limits count against: an IPv4 address, an IPv6 client's /64 (one
    site's whole network: a /64 holds more addresses than anyone can rotate through),
    or the unparsed value a proxy passed on."""
    ip = client_ip(request)
    if ip is None:
        return request.client.host[:64] if request.client is not None else "unknown"
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip
