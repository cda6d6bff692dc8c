"""Per-recipient links in digests, signed fast.

A digest makes two tokens per message, which made token signing the largest
per-recipient cost. :class:`LinkMaker` prepares what every token of a run shares once
(the HMAC key, the purpose byte and issue time) and signs each subscriber's payload with
the one-shot C HMAC (:func:`hmac.digest`) through :class:`pressroom.tokens.TokenSigner`,
so the tokens are exactly those of :func:`pressroom.tokens.make_token` (a test holds the
two together) and :func:`pressroom.tokens.read_token` checks them. Links carry the
subscriber's opaque ``public_key``, never the sequential id.
"""

from __future__ import annotations

from datetime import datetime

from pressroom.tokens import TokenSigner

__all__ = ["LinkMaker"]


class LinkMaker:
    """Makes ``{public_url}{purpose}/{token}`` links for one run (one issue time).

    Args:
        secret: ``[web] secret``.
        public_url: ``[web] public_url`` (ends in ``/``).
        issued: the issue time written into every token.
    """

    def __init__(self, secret: str, public_url: str, issued: datetime) -> None:
        self._signer = TokenSigner(secret)
        issued_at = int(issued.timestamp())
        self._heads = {
            purpose: TokenSigner.head(purpose, issued_at)
            for purpose in ("unsubscribe", "preferences")
        }
        self._base = public_url

    def token(self, purpose: str, public_key: str) -> str:
        """The same token :func:`pressroom.tokens.make_token` makes (no confirm tokens)."""
        return self._signer.seal(self._heads[purpose], public_key)

    def link(self, purpose: str, public_key: str) -> str:
        """``public_url + purpose + "/" + token``, e.g. ``…/unsubscribe/dQAAAAB….``."""
        return f"{self._base}{purpose}/{self.token(purpose, public_key)}"
