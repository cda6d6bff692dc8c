"""A feed file's answer to GET or HEAD: 200 or 304, gzip or identity, with every header.

One function decides it for both ways a file is served (:mod:`pressroom.web.file_server`
for the output directory, the index route for ``/``), so the two cannot drift: the
validators (RFC 9110 §13), the security headers of :mod:`pressroom.web.security` (on a
304 too: a cache freshens its stored response with the 304's headers, RFC 9111 §4.3.4),
cross-origin reads for feeds, and the ``Link`` headers the caller passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from pressroom.web.files import FeedFile
from pressroom.web.security import EVERY_RESPONSE_HEADERS, PAGE_HEADERS

__all__ = ["FileAnswer", "RawHeaders", "accepts_gzip", "answer", "etag_matches"]

RawHeaders = list[tuple[bytes, bytes]]
"""Response headers as ASGI sends them (lower-case names, latin-1 bytes)."""

_PAGE = [(k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()]
_NOT_PAGE = [(k.lower().encode(), v.encode()) for k, v in EVERY_RESPONSE_HEADERS.items()]
_NOT_PAGE.append((b"access-control-allow-origin", b"*"))  # web-based readers fetch feeds


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """Status, headers and body (the body of a HEAD is dropped by whoever sends it)."""

    status: int
    headers: RawHeaders
    body: bytes


def _etag_list(header: str) -> Iterable[str]:
    for item in header.split(","):
        yield item.strip().removeprefix("W/")


def etag_matches(header: str | None, file: FeedFile) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2); either encoding matches."""
    if not header:
        return False
    ours = {file.etag, file.gzip_etag}
    return any(tag == "*" or tag in ours for tag in _etag_list(header))


def not_modified_since(header: str | None, file: FeedFile) -> bool:
    """True when If-Modified-Since is a valid date not older than the file's mtime."""
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return file.modified <= since


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when Accept-Encoding lists gzip (or ``*``) with a non-zero q-value."""
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower().removeprefix("q=")
        try:
            return not params.strip() or float(q) > 0
        except ValueError:
            return False
    return False


def answer(
    file: FeedFile,
    request: Mapping[str, str],
    *,
    cache_seconds: int,
    links: Sequence[bytes] = (),
) -> FileAnswer:
    """The answer to a GET or HEAD of ``file``.

    Args:
        file: the file.
        request: the request's headers by lower-case name (``if-none-match``,
            ``if-modified-since``, ``accept-encoding`` are read).
        cache_seconds: ``Cache-Control: max-age``.
        links: values of ``Link`` headers to send (WebSub ``rel="hub"``/``"self"``).
    """
    use_gzip = file.gzipped is not None and accepts_gzip(request.get("accept-encoding"))
    headers: RawHeaders = [
        (b"etag", (file.gzip_etag if use_gzip else file.etag).encode()),
        (b"last-modified", file.last_modified.encode()),
        (b"cache-control", f"public, max-age={cache_seconds}".encode()),
        (b"vary", b"Accept-Encoding"),
    ]
    headers += [(b"link", link) for link in links]
    headers += _PAGE if file.is_html else _NOT_PAGE
    inm = request.get("if-none-match")
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
    fresh = (
        etag_matches(inm, file)
        if inm
        else not_modified_since(request.get("if-modified-since"), file)
    )
    if fresh:
        return FileAnswer(304, headers, b"")
    body = file.gzipped if use_gzip and file.gzipped is not None else file.body
    headers.append((b"content-type", file.media_type.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    if use_gzip:
        headers.append((b"content-encoding", b"gzip"))
    return FileAnswer(200, headers, body)
