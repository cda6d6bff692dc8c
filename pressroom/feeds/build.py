"""``build_feeds``: publish every feed that changed, keep the rest, remove the stale, and
tell the WebSub hubs which feeds changed.

One read transaction plans the build: the newest ``(id, updated_at, published_at)`` rows
of each feed are hashed with the settings into a fingerprint and compared with
``feed_state``; only feeds whose fingerprint moved (or whose files are missing) are
rendered, from one batched query for their articles, in each configured format of the
registry (:mod:`pressroom.feeds.formats`); feedgen and lxml are imported only when there
is an RSS/Atom feed to render. Within one process, a SQLite store whose data
version has not moved since a build that changed nothing is not queried at all
(:mod:`pressroom.feeds.fastpath`).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from pressroom.errors import JobFailed, OutputError, StoreError
from pressroom.feeds import fastpath
from pressroom.feeds.feed_config import FeedConfig
from pressroom.feeds.formats import feed_file_names, feed_format, registered
from pressroom.feeds.itemcache import item_cache
from pressroom.feeds.items import FeedItem, FeedMeta
from pressroom.feeds.local_state import load_local_fingerprints, save_local_fingerprints
from pressroom.feeds.output_files import remove_feed_dir, remove_feed_file, write_if_changed
from pressroom.feeds.prepare import prepare_item
from pressroom.feeds.report import FeedBuildReport
from pressroom.feeds.site_files import SITE_FILES, write_site_files
from pressroom.feeds.specs import FeedSpec, feed_meta, feed_specs
from pressroom.importance import section_weights
from pressroom.models import Article, Section
from pressroom.store.articles import articles_by_ids, list_sections
from pressroom.store.data_version import data_version
from pressroom.store.engine import Store
from pressroom.store.feed_keys import FeedKeys, key_time, newest_keys, next_visible_at
from pressroom.store.feed_state import load_fingerprints, save_fingerprints
from pressroom.store.important import Important

__all__ = ["Staleness", "build_feeds", "clear_caches", "needs_build"]

log = logging.getLogger("pressroom.feeds")


@dataclass
class _Feed:
    spec: FeedSpec
    keys: FeedKeys
    fingerprint: str
    changed: bool = False
    failed: bool = False
    meta: FeedMeta | None = None
    items: list[FeedItem] = field(default_factory=list)


@dataclass
class _Plan:
    sections: list[Section]
    feeds: list[_Feed]
    previous: dict[str, str]
    next_visible: datetime | None
    context: str
    articles: dict[int, Article] = field(default_factory=dict)


def build_feeds(
    config: FeedConfig, store: Store, *, now: datetime, force: bool = False
) -> FeedBuildReport:
    """Write every feed whose content changed into ``[feeds] output_dir``.

    Args:
        config: the feeds' settings (:func:`pressroom.wiring.feed_config` makes it):
            site, feeds, the importance rule for ``important``.
        store: the article store; ``feed_state`` records what was published.
        now: the current time (UTC); articles dated later are left out until then.
        force: render and compare every feed even when its fingerprint is unchanged
            (files whose bytes are the same are still not rewritten).

    Returns:
        The files written, kept and removed. A feed that fails is logged and listed in
        ``failed``; its old files stay and the other feeds are still built. The
        ``[feeds] websub_hub`` hubs are told of the changed feeds in a thread of their own
        (:func:`pressroom.feeds.websub.announce_changes`): the report comes back at once.

    Raises:
        StoreError: the store could not be read or ``feed_state`` written.
        JobFailed: the output folder, the OPML file or the index page could not be written.
    """
    from pressroom.feeds.websub import announce_changes  # httpx: only once a build ran

    report = _write_feeds(config, store, now, force)
    announce_changes(config, store, report)
    return report


def _write_feeds(config: FeedConfig, store: Store, now: datetime, force: bool) -> FeedBuildReport:
    started = time.perf_counter()
    out = config.output_dir
    report = FeedBuildReport(output_dir=str(out))
    try:
        _build_or_keep(config, store, now, force, report)
    except (sqlite3.Error, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"feeds build: cannot use the store: {reason}") from exc
    except OSError as exc:
        where = exc.filename or out
        raise JobFailed(f"feeds build: cannot write {where}: {exc.strerror or exc}") from exc
    except OutputError as exc:  # the output folder itself (a file, read-only, full)
        raise JobFailed(f"feeds build: {exc}") from exc
    report.seconds = time.perf_counter() - started
    return report


def _build_or_keep(
    config: FeedConfig, store: Store, now: datetime, force: bool, report: FeedBuildReport
) -> None:
    out, key = config.output_dir, config.settings_key
    version = data_version(store)
    memo = None if force or version is None else fastpath.recall(store, out)
    if memo is not None and _memo_holds(memo, version, key, now, out):
        report.kept, report.feeds = sorted(memo.files), memo.feed_count
    else:
        outcome = _build(config, store, now, force, report)
        _update_memo(store, out, version, key, now, report, outcome)


@dataclass(frozen=True)
class Staleness:
    """What :func:`needs_build` found: must a build run, and when must it look again."""

    stale: bool
    next_visible_at: datetime | None


def needs_build(config: FeedConfig, store: Store, *, now: datetime) -> Staleness:
    """Would :func:`build_feeds` write anything? One read, no write, nothing rendered.

    The watch (:mod:`pressroom.worker.watch`) asks this when the store changed, so commits
    that touch no feed (a heartbeat, a lease, a subscriber) cost a few index reads and no
    build. ``next_visible_at`` is when a future-dated article becomes due.

    Raises:
        StoreError: the store could not be read.
    """
    formats: list[str] = list(dict.fromkeys(config.feeds.formats))
    out = config.output_dir
    try:
        with store.read() as conn:
            plan = _plan(conn, config, now)
    except (sqlite3.Error, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"feeds check: cannot read the store: {reason}") from exc
    for feed in plan.feeds:
        feed.changed = bool(feed.keys) and _stale(feed, plan.previous, out, formats)
    return Staleness(_site_files_stale(plan, out), plan.next_visible)


def clear_caches() -> None:
    """Forget every prepared and rendered entry kept by this process (tests, benchmarks)."""
    item_cache.clear()
    rss_atom = sys.modules.get("pressroom.feeds.rss_atom")  # loaded once a feed was rendered
    if rss_atom is not None:
        rss_atom.clear_entries()


def _memo_holds(
    memo: fastpath.Memo, version: int | str | None, key: str, now: datetime, out: Path
) -> bool:
    if memo.data_version != version or memo.settings_key != key or now < memo.built_for:
        return False
    if memo.next_visible_at is not None and now >= memo.next_visible_at:
        return False
    return fastpath.file_stamps(out, sorted(memo.files)) == memo.files


@dataclass
class _Outcome:
    """What the memo needs from a build: did it write the store, what did it publish."""

    wrote_state: bool
    next_visible: datetime | None
    files: list[str]


def _build(
    config: FeedConfig, store: Store, now: datetime, force: bool, report: FeedBuildReport
) -> _Outcome:
    out = config.output_dir
    formats: list[str] = list(dict.fromkeys(config.feeds.formats))
    with store.read() as conn:
        plan = _plan(conn, config, now)
        for feed in plan.feeds:
            feed.changed = bool(feed.keys) and (force or _stale(feed, plan.previous, out, formats))
        site_files = force or _site_files_stale(plan, out)
        wanted = _keys_to_prepare(plan.feeds, newest=site_files)
        if force:  # --force trusts nothing kept from earlier builds
            item_cache.clear()
        missing = [i for i, u in wanted if not item_cache.get((plan.context, i, u))[0]]
        found = articles_by_ids(conn, missing, published_only=False)
        plan.articles = {a.id: a for a in found}
    prepare = _preparer(config, plan, report)
    for feed in plan.feeds:
        _prepare(feed, prepare, config, newest=site_files)
    published = [f for f in plan.feeds if f.meta is not None]
    for feed in published:
        if feed.changed:
            _publish(feed, out, formats, report)
        else:
            report.kept += [f"{feed.spec.name}/{_file(fmt)}" for fmt in formats]
    _remove_stale(out, published, plan.previous, formats, report)
    # a feed that failed is listed only if files from an earlier build are there
    listed = [f for f in published if not f.failed or _has_files(f, out, formats)]
    rows = [(f.meta, f.items[0] if f.items else None) for f in listed if f.meta]
    anything = site_files or bool(report.written or report.removed)
    site = config.site
    write_site_files(
        out,
        rows,
        formats,
        report,
        site_name=site.name,
        language=site.language,
        zone=site.tz,
        force=anything,
        archive_href="digests/index.html" if config.rules.archive else None,
    )
    report.feeds = len(published)
    wrote = _save_state(config, store, plan, published, now)
    files = [f"{f.spec.name}/{_file(fmt)}" for f in published for fmt in formats]
    return _Outcome(wrote, plan.next_visible, [*files, *SITE_FILES])


def _plan(conn: Connection, config: FeedConfig, now: datetime) -> _Plan:
    key = config.settings_key
    sections = list_sections(conn) or [
        Section(s.slug, s.name, s.weight, i) for i, s in enumerate(config.sections)
    ]
    section_text = repr([(s.slug, s.name, s.weight) for s in sections])
    weights = section_weights(sections, config.section_weights)
    important = Important(weights, config.rules.importance)
    feeds = []
    for spec in feed_specs(sections):
        rule = important if spec.important_only else None
        keys = newest_keys(conn, config.feeds.items, now, section=spec.section, important=rule)
        raw = f"{key}\n{section_text}\n{spec.name}\n{spec.section_name}\n{keys!r}"
        feeds.append(_Feed(spec, keys, hashlib.sha256(raw.encode()).hexdigest()))
    context = hashlib.sha256(f"{key}\n{section_text}".encode()).hexdigest()
    return _Plan(sections, feeds, _previous(conn, config), next_visible_at(conn, now), context)


def _previous(conn: Connection, config: FeedConfig) -> dict[str, str]:
    """The fingerprints of the last build: the store's, or this folder's own (``local``)."""
    if config.feeds.lease == "local":
        return load_local_fingerprints(config.output_dir)
    return load_fingerprints(conn)


def _stale(feed: _Feed, previous: dict[str, str], out: Path, formats: list[str]) -> bool:
    if previous.get(feed.spec.name) != feed.fingerprint:
        return True
    return not _has_files(feed, out, formats)


def _has_files(feed: _Feed, out: Path, formats: list[str]) -> bool:
    folder = out / feed.spec.name
    return all((folder / _file(fmt)).is_file() for fmt in formats)


def _file(fmt: str) -> str:
    return feed_format(fmt).file_name


def _site_files_stale(plan: _Plan, out: Path) -> bool:
    """Must the OPML file and the index page be rendered (a feed changed, came or went)?"""
    present = {f.spec.name for f in plan.feeds if f.keys}
    if any(f.changed for f in plan.feeds) or set(plan.previous) - present:
        return True
    return not all((out / name).is_file() for name in SITE_FILES) or bool(_feed_dirs(out) - present)


def _keys_to_use(feed: _Feed, *, newest: bool) -> FeedKeys:
    """Every row of a changed feed; with ``newest``, the newest row of a kept one (the
    index page shows it); else none."""
    return feed.keys if feed.changed else feed.keys[: 1 if newest else 0]


def _keys_to_prepare(feeds: list[_Feed], *, newest: bool) -> set[tuple[int, str]]:
    """(id, updated) of every article some feed will use."""
    return {(i, u) for feed in feeds for i, u, _p in _keys_to_use(feed, newest=newest)}


Prepare = Callable[[int, str], FeedItem | None]


def _preparer(config: FeedConfig, plan: _Plan, report: FeedBuildReport) -> Prepare:
    """Prepare each article once (or take it from the process's cache); count skips."""
    names = {s.slug: s.name for s in plan.sections}
    seen: set[int] = set()

    def prepare(article_id: int, updated: str) -> FeedItem | None:
        key = (plan.context, article_id, updated)
        found, item = item_cache.get(key)
        if not found:
            article = plan.articles[article_id]
            item = prepare_item(article, config, names.get(article.section, article.section))
            item_cache.put(key, item)
        if article_id not in seen:
            seen.add(article_id)
            report.skipped_articles += item is None
        return item

    return prepare


def _prepare(feed: _Feed, prepare: Prepare, config: FeedConfig, *, newest: bool) -> None:
    """Fill ``feed.items`` (all of a changed feed, the newest of a kept one) and its header.

    The ``important`` feed's rows come from
    :func:`pressroom.store.important.important_clause`, which selects exactly what
    :func:`pressroom.importance.is_important` accepts.
    """
    if not feed.keys:
        return
    seen: set[str] = set()
    for article_id, updated, _published in _keys_to_use(feed, newest=newest):
        item = prepare(article_id, updated)
        if item is None:
            continue
        if item.id in seen:
            log.warning(
                "%s: left out of %s: a duplicate of an entry above", item.link, feed.spec.name
            )
            continue
        seen.add(item.id)
        feed.items.append(item)
    if feed.changed and not feed.items:
        log.warning("%s: not published: none of its articles could be used", feed.spec.name)
        return
    latest = key_time(max(max(u, p) for _i, u, p in feed.keys))
    feed.meta = feed_meta(feed.spec, config, latest)


def _render(fmt: str, meta: FeedMeta, items: list[FeedItem]) -> bytes:
    return feed_format(fmt).render(meta, items)


def _publish(feed: _Feed, out: Path, formats: list[str], report: FeedBuildReport) -> None:
    assert feed.meta is not None
    name = feed.spec.name
    try:
        documents = {fmt: _render(fmt, feed.meta, feed.items) for fmt in formats}
        for fmt, data in documents.items():
            path = f"{name}/{_file(fmt)}"
            written = write_if_changed(out / path, data, gzip_sibling=True)
            (report.written if written else report.kept).append(path)
    except OutputError:
        raise  # the output folder itself fails (read-only, full): every feed would
    except Exception as exc:  # one feed never breaks the others
        log.exception("feed %s could not be built", name)
        report.failed.append(f"{name}: {type(exc).__name__}: {exc}")
        feed.failed = True


def _remove_stale(
    out: Path,
    published: list[_Feed],
    previous: dict[str, str],
    formats: list[str],
    report: FeedBuildReport,
) -> None:
    keep = {f.spec.name for f in published}
    for name in sorted((set(previous) | _feed_dirs(out)) - keep):
        report.removed += [f"{name}/{file}" for file in remove_feed_dir(out / name)]
    unwanted = [f.file_name for f in registered() if f.name not in formats]
    for name in sorted(keep):
        for file in unwanted:
            if remove_feed_file(out / name / file):
                report.removed.append(f"{name}/{file}")


def _feed_dirs(out: Path) -> set[str]:
    """Folders of ``out`` that hold feed files (ours, from this or an earlier build)."""
    if not out.is_dir():
        return set()
    files = feed_file_names()
    return {d.name for d in out.iterdir() if d.is_dir() and any((d / f).is_file() for f in files)}


def _save_state(
    config: FeedConfig, store: Store, plan: _Plan, published: list[_Feed], now: datetime
) -> bool:
    changed = {
        f.spec.name: (f.fingerprint, f.meta.updated if f.meta else None)
        for f in published
        if not f.failed and plan.previous.get(f.spec.name) != f.fingerprint
    }
    names = {f.spec.name for f in published}
    removed = [name for name in plan.previous if name not in names]
    if not changed and not removed:
        return False
    if config.feeds.lease == "local":
        save_local_fingerprints(config.output_dir, changed, removed)
        return True
    with store.write() as conn:
        save_fingerprints(conn, changed, removed, now)
    return True


def _update_memo(
    store: Store,
    out: Path,
    version: int | str | None,
    key: str,
    now: datetime,
    report: FeedBuildReport,
    outcome: _Outcome,
) -> None:
    if version is None or outcome.wrote_state or report.failed:
        fastpath.forget(store, out)
        return
    stamps = fastpath.file_stamps(out, sorted(outcome.files))
    if stamps is None:
        fastpath.forget(store, out)
        return
    memo = fastpath.Memo(version, key, outcome.next_visible, stamps, report.feeds, now)
    fastpath.remember(store, out, memo)
