"""Change-aware, atomic writes of the feed files.

A file whose bytes would not change is not touched (same bytes, same mtime, so ETag and
Last-Modified hold and readers get 304). A changed file is written to a temporary file in
the same folder, flushed to disk and renamed over the old one, so a reader sees either the
old file or the new one, never half of one.

Feeds and the OPML file get a ``.gz`` sibling (``rss.xml.gz``) with the same mtime, for
a web server in front that sends precompressed files (nginx ``gzip_static``): it sends the
sibling's mtime as Last-Modified, so both encodings agree.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from pathlib import Path

from pressroom.errors import OutputError
from pressroom.feeds.formats import feed_file_names

__all__ = ["GZIP_SUFFIX", "remove_feed_dir", "remove_feed_file", "same_bytes", "write_if_changed"]

GZIP_SUFFIX = ".gz"


def same_bytes(path: Path, data: bytes) -> bool:
    """True when ``path`` exists and holds exactly ``data``."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError):  # no such file (or no such folder)
        return False


def write_if_changed(
    path: Path, data: bytes, *, durable: bool = False, gzip_sibling: bool = False
) -> bool:
    """Write ``data`` to ``path`` atomically unless it already holds those bytes.

    Args:
        path: the file to (re)write; its folder is created when missing.
        data: the new content.
        durable: fsync the temporary file before the rename. Off by default: the rename
            alone keeps readers from seeing half a file, ext4 (``auto_da_alloc``) flushes a
            file replaced by rename, and an fsync per file costs ~8 ms on a loaded disk.
        gzip_sibling: keep ``<path>.gz`` (the same bytes gzip-compressed, the same mtime)
            beside it; a kept file whose sibling is missing gets one.

    Returns:
        True when the file was written, False when it was kept as it was.

    Raises:
        OutputError: the folder or the file cannot be written (read-only, full, no
            permission); the old file, if any, is left as it was.
    """
    sibling = path.with_name(path.name + GZIP_SUFFIX)
    if same_bytes(path, data):
        if gzip_sibling and not sibling.exists():
            _write_or_fail(path, data, durable, sibling)
        return False
    _write_or_fail(path, data, durable, sibling if gzip_sibling else None)
    return True


def _write_or_fail(path: Path, data: bytes, durable: bool, sibling: Path | None) -> None:
    try:
        if sibling is not None:
            # the sibling first: a crash between the two leaves the old file, which the
            # next build finds changed and writes again with its sibling
            _replace(sibling, gzip.compress(data, compresslevel=9, mtime=0), durable)
        if not same_bytes(path, data):
            _replace(path, data, durable)
        if sibling is not None:
            mtime = path.stat().st_mtime_ns
            os.utime(sibling, ns=(mtime, mtime))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def remove_feed_file(path: Path) -> bool:
    """Remove a feed file and its ``.gz`` sibling; True when the file was there."""
    with contextlib.suppress(FileNotFoundError):
        path.with_name(path.name + GZIP_SUFFIX).unlink()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _replace(path: Path, data: bytes, durable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def remove_feed_dir(folder: Path) -> list[str]:
    """Remove a feed folder that holds only feed files; return the names removed.

    A folder holding anything else (an operator's own file) keeps that file and the
    folder; only the files of the registered formats (``rss.xml``, ``atom.xml``,
    ``feed.json``: :mod:`pressroom.feeds.formats`) and their ``.gz`` siblings go.
    """
    if not folder.is_dir():
        return []
    removed = []
    feed_files = feed_file_names()
    for child in sorted(folder.iterdir()):
        if child.name in feed_files and child.is_file():
            remove_feed_file(child)
            removed.append(child.name)
        elif child.name.removesuffix(GZIP_SUFFIX) in feed_files and child.is_file():
            child.unlink()  # a sibling whose feed file is gone already
    if not any(folder.iterdir()):
        shutil.rmtree(folder)
    return removed
