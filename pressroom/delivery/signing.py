"""Optional DKIM signing (dkimpy) of composed messages, when ``[mail.dkim]`` is set.

Signing costs an RSA operation per message (about a millisecond); at volume it is faster
to let the MTA sign. The signature covers the headers RFC 8058 section 4 asks for
(List-Unsubscribe and List-Unsubscribe-Post), Reply-To, Precedence and Auto-Submitted
besides the usual ones, and over-signs those a forger would add a second copy of.
"""

from __future__ import annotations

from collections.abc import Callable

import dkim

from pressroom.config import DkimSettings
from pressroom.errors import ConfigError, DeliveryError

__all__ = ["OVERSIGNED_HEADERS", "SIGNED_HEADERS", "Signer", "make_signer"]

OVERSIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
"""Named once more in ``h=`` than the message holds them (RFC 6376 section 8.15): a copy
added in transit breaks the signature instead of being shown in place of the signed one."""

SIGNED_HEADERS = (
    *OVERSIGNED_HEADERS,
    b"message-id",
    b"list-id",
    b"reply-to",
    b"precedence",
    b"auto-submitted",
    b"mime-version",
    b"content-type",
    *OVERSIGNED_HEADERS,
)
"""``h=``: every header a reader or a filter acts on, the over-signed ones twice."""

_PROBE = b"From: probe@example.com\r\nSubject: probe\r\n\r\nprobe\r\n"

Signer = Callable[[bytes], bytes]
"""Takes a whole message and returns it with a DKIM-Signature header in front."""


def make_signer(config: DkimSettings | None) -> Signer | None:
    """A signer for ``[mail.dkim]``, or None when DKIM is not configured.

    Args:
        config: ``[mail.dkim]`` with ``key_file`` already resolved (a relative one is
            read from the working directory).

    Raises:
        ConfigError: the key file cannot be read.
    """
    if config is None:
        return None
    key_path = config.key_file
    try:
        key = key_path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"mail.dkim.key_file: cannot read {key_path}: {exc.strerror}"]) from exc
    selector, domain = config.selector.encode("ascii"), config.domain.encode("ascii")
    try:  # a bad key fails here, once, rather than on every message
        dkim.sign(_PROBE, selector, domain, key, include_headers=[b"from"])
    except dkim.DKIMException as exc:
        raise ConfigError([f"mail.dkim.key_file: {key_path} is not a usable key: {exc}"]) from exc

    def sign(data: bytes) -> bytes:
        try:
            header = dkim.sign(data, selector, domain, key, include_headers=list(SIGNED_HEADERS))
        except dkim.DKIMException as exc:
            raise DeliveryError(f"DKIM signing with {key_path} failed: {exc}") from exc
        return bytes(header) + data

    return sign
