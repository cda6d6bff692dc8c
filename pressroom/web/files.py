"""The built feed files as a read-only, contained source: content types, bytes, validators.

The feed builder writes a file only when its bytes change, so the file's mtime is a true
``Last-Modified`` and a hash of its bytes a strong ``ETag`` (RFC 9110 §8.8). Only plain
names inside the output directory are served: ``..``, hidden names, backslashes, NUL
bytes and symlinks that lead outside are refused however the request encoded them.

A file found once is kept (bytes, gzip bytes, validators) under its URL path; a later
request costs one ``stat`` of the file it resolved to, and any change of its mtime, size
or inode finds and reads it again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from pressroom.feeds.formats import format_for_file

__all__ = [
    "CONTENT_TYPES",
    "FeedFile",
    "FeedFiles",
    "make_feed_file",
    "media_type_for",
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

Stamp = tuple[int, int, int]
"""(mtime in ns, size, inode): a file whose stamp is unchanged has the same bytes."""


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One file's bytes, its gzip form and its validators."""

    body: bytes
    media_type: str
    etag_hash: str
    modified: datetime
    gzipped: bytes | None
    """The body gzip-compressed once (mtime 0 keeps the bytes stable); None when not
    worth it (small, or already compressed)."""

    @property
    def etag(self) -> str:
        """The strong ETag of the identity representation."""
        return f'"{self.etag_hash}"'

    @property
    def gzip_etag(self) -> str:
        """The strong ETag of the gzip representation (a different set of bytes)."""
        return f'"{self.etag_hash}-gz"'

    @property
    def last_modified(self) -> str:
        """``Last-Modified`` as HTTP writes it."""
        return format_datetime(self.modified, usegmt=True)

    @property
    def is_html(self) -> bool:
        """A page a browser renders (it gets the page security headers)."""
        return self.media_type.startswith("text/html")


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


def make_feed_file(body: bytes, media_type: str, mtime: float) -> FeedFile:
    """Wrap bytes with their strong ETag, Last-Modified (whole seconds, as HTTP has) and
    gzip form."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    modified = datetime.fromtimestamp(int(mtime), tz=UTC)
    compressible = len(body) >= _GZIP_MIN_BYTES and not media_type.startswith("image/p")
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if compressible else None
    return FeedFile(body, media_type, digest, modified, gzipped)


def _stamp(path: Path | str) -> Stamp | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class FeedFiles:
    """The output directory as a read-only, contained file source with a small cache.

    :meth:`cached` is cheap (one ``stat``) and may run on the event loop; :meth:`find`
    resolves and reads, so it belongs in a worker thread.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: OrderedDict[str, tuple[Path, Stamp, FeedFile]] = OrderedDict()
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

    def cached(self, url_path: str) -> FeedFile | None:
        """The file served before under ``url_path``, if it is unchanged on disk."""
        with self._lock:
            entry = self._cache.get(url_path)
        if entry is None:
            return None
        target, stamp, file = entry
        # The stamp of the resolved target, following links: a file replaced by a symlink
        # that leads elsewhere changes it, and the next find() judges the new link.
        return file if _stamp(target) == stamp else None

    def find(self, url_path: str) -> FeedFile | None:
        """Locate and read the file ``url_path`` names (blocking), or None: not served."""
        file = self.cached(url_path)
        if file is not None:
            return file
        target = self.locate(url_path)
        if target is None:
            return None
        try:
            # the stamp of the open file, so it and the bytes are of the same file even if
            # the builder renames a new one into place meanwhile
            with target.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                body = handle.read()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        media_type = media_type_for(target.name) or "application/octet-stream"
        file = make_feed_file(body, media_type, stamp[0] / 1e9)
        with self._lock:
            self._cache[url_path] = (target, stamp, file)
            self._cache.move_to_end(url_path)
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return file
