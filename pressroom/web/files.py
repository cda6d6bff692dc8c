"""Serving the built feed files: content types, validators, 304s, gzip, path containment.

The feed builder writes a file only when its bytes change, so the file's mtime is a true
``Last-Modified`` and a hash of its bytes a strong ``ETag`` (RFC 9110 §8.8). Only plain
names inside the output directory are served: ``..``, hidden names, backslashes, NUL
bytes and symlinks that lead outside are refused however the request encoded them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response

from pressroom.feeds.formats import format_for_file

__all__ = [
    "CONTENT_TYPES",
    "FeedFile",
    "FeedFiles",
    "accepts_gzip",
    "etag_matches",
    "not_modified_since",
    "safe_relative_path",
]

CONTENT_TYPES: dict[str, str] = {
    ".json": "application/feed+json",
    ".opml": "text/x-opml",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".xsl": "text/xsl; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_BINARY_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon"}
_GZIP_MIN_BYTES = 256
_CACHE_ENTRIES = 512


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One file's bytes and validators, cached while its (mtime, size) stay the same."""

    body: bytes
    media_type: str
    etag_hash: str
    modified: datetime
    stamp: tuple[int, int]
    _gzipped: list[bytes]

    @property
    def etag(self) -> str:
        """The strong ETag of the identity representation."""
        return f'"{self.etag_hash}"'

    @property
    def gzip_etag(self) -> str:
        """The strong ETag of the gzip representation (a different set of bytes)."""
        return f'"{self.etag_hash}-gz"'

    @property
    def compressible(self) -> bool:
        """Text worth compressing."""
        return len(self.body) >= _GZIP_MIN_BYTES and not self.media_type.startswith("image/p")

    def gzipped(self) -> bytes:
        """The body gzip-compressed, computed once (mtime 0 keeps the bytes stable)."""
        if not self._gzipped:
            self._gzipped.append(gzip.compress(self.body, compresslevel=6, mtime=0))
        return self._gzipped[0]


def media_type_for(name: str) -> str | None:
    """The Content-Type for a served file name, or None when it is not served.

    A registered feed format's file (:mod:`pressroom.feeds.formats`) is served with that
    format's type; other files by their suffix (:data:`CONTENT_TYPES`).
    """
    fmt = format_for_file(name)
    if fmt is not None:
        return fmt.served_as
    suffix = os.path.splitext(name)[1].lower()
    return CONTENT_TYPES.get(suffix) or _BINARY_TYPES.get(suffix)


def safe_relative_path(path: str) -> tuple[str, ...] | None:
    """Split a decoded URL path into plain name segments, or None if any is unsafe.

    Refused: ``.`` and ``..`` segments, empty segments (``//``), hidden names, and any
    backslash, NUL or control character (Windows separators and C-string truncation).
    """
    parts = path.strip("/").split("/") if path.strip("/") else []
    for part in parts:
        if not part or part.startswith(".") or "\\" in part:
            return None
        if any(ord(ch) < 0x20 or ch == "\x7f" for ch in part):
            return None
    return tuple(parts)


class FeedFiles:
    """The output directory as a read-only, contained file source with a small cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: OrderedDict[Path, FeedFile] = OrderedDict()
        self._lock = threading.Lock()

    def locate(self, url_path: str) -> Path | None:
        """The file a decoded URL path names, or None if it is unsafe, missing or hidden."""
        parts = safe_relative_path(url_path)
        if parts is None:
            return None
        if not parts:
            parts = ("index.html",)
        if media_type_for(parts[-1]) is None:
            return None
        try:
            root = self.root.resolve(strict=True)
            target = root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        # A symlink inside the output directory must not lead out of it.
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def load(self, target: Path) -> FeedFile | None:
        """Read ``target`` (or reuse the cached copy while mtime and size are unchanged)."""
        try:
            stat = target.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(target)
            if cached is not None and cached.stamp == stamp:
                self._cache.move_to_end(target)
                return cached
        try:
            body = target.read_bytes()
        except OSError:
            return None
        media_type = media_type_for(target.name) or "application/octet-stream"
        entry = make_feed_file(body, media_type, stat.st_mtime, stamp)
        with self._lock:
            self._cache[target] = entry
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return entry


def make_feed_file(
    body: bytes, media_type: str, mtime: float, stamp: tuple[int, int] = (0, 0)
) -> FeedFile:
    """Wrap bytes with their strong ETag and Last-Modified (whole seconds, as HTTP has)."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    modified = datetime.fromtimestamp(int(mtime), tz=UTC)
    return FeedFile(body, media_type, digest, modified, stamp, [])


def _etag_list(header: str) -> Iterable[str]:
    for item in header.split(","):
        item = item.strip()
        yield item.removeprefix("W/")


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


def accepts_gzip(headers: Headers) -> bool:
    """True when Accept-Encoding lists gzip (or ``*``) with a non-zero q-value."""
    for item in headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower().removeprefix("q=")
        try:
            return not params.strip() or float(q) > 0
        except ValueError:
            return False
    return False


def file_response(file: FeedFile, headers: Headers, cache_seconds: int) -> Response:
    """The 200 or 304 response for ``file`` given the request's headers."""
    use_gzip = file.compressible and accepts_gzip(headers)
    common = {
        "ETag": file.gzip_etag if use_gzip else file.etag,
        "Last-Modified": format_datetime(file.modified, usegmt=True),
        "Cache-Control": f"public, max-age={cache_seconds}",
        "Vary": "Accept-Encoding",
    }
    inm = headers.get("if-none-match")
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
    fresh = (
        etag_matches(inm, file)
        if inm
        else not_modified_since(headers.get("if-modified-since"), file)
    )
    if fresh:
        return Response(status_code=304, headers=common)
    body = file.gzipped() if use_gzip else file.body
    if use_gzip:
        common["Content-Encoding"] = "gzip"
    return Response(body, media_type=file.media_type, headers=common)
