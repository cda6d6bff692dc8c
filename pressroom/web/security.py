"""Guards for the forms: cross-site posting checks, form tokens and security headers.

Two independent checks stop a foreign page from posting our forms (OWASP CSRF cheat
sheet): the browser's ``Origin`` / ``Sec-Fetch-Site`` headers must not name another site,
and the preferences form carries a token derived from the secret and the page's own link
token, which a foreign page cannot know. The RFC 8058 one-click unsubscribe POST is sent
by mail providers' servers without cookies or origin, so it is exempt by design.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = [
    "PAGE_HEADERS",
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


def client_key(request: Request) -> str:
    """The client address the rate limits count against (uvicorn resolves trusted proxies)."""
    return request.client.host if request.client is not None else "unknown"
