"""The worker closes each source's connections as it stops (they are kept open between
syncs while it runs): none is left for the garbage collector, on a real PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import support
from sqlalchemy import create_engine, text
from support import FakeClock
from workerfakes import FakeFeeds

from pressroom.models import JobOutcome, Section
from pressroom.store.articles import sync_sections
from pressroom.store.engine import open_store
from pressroom.worker.scheduler import default_jobs, run_once

CONFIG = """
[[schedules]]
name = "feeds"
job = "feeds"
cron = "0 0 1 1 *"

[[sections]]
slug = "domestic"
name = "国内"

[sources.cms]
kind = "sql"
url = "{url}"
timezone = "UTC"
query = "SELECT url, section, title, changed AS published_at FROM items WHERE changed >= :since"
"""


@pytest.mark.postgres
def test_run_once_closes_the_connections_of_each_source(
    tmp_path: Path, pg_url: str, pg_base_url: str
) -> None:
    name = f"pressroom-source-{uuid.uuid4().hex[:8]}"
    cms = create_engine(pg_url)
    with cms.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (url text, section text, title text, changed timestamptz)"
        )
        conn.exec_driver_sql(
            "INSERT INTO items VALUES ('https://news.example.cn/1.html', '国内', '新文章', now())"
        )
    cms.dispose()
    source_url = f"{pg_url}&application_name={name}"
    settings = support.make_settings(
        tmp_path, CONFIG.format(url=source_url), store={"url": "sqlite:///store.db"},
        feeds={"watch": "0"},
    )  # fmt: skip
    store = open_store(settings.store_url)
    admin = create_engine(pg_base_url)
    try:
        with store.write() as conn:
            sync_sections(conn, [Section("domestic", "国内")])
        jobs = replace(default_jobs(settings), build_feeds=FakeFeeds())
        results = run_once(settings, store, FakeClock(datetime.now(UTC)), show_progress=False,
                           jobs=jobs)  # fmt: skip
        synced = [r for r in results if r.job == "sources"]
        assert [(r.schedule, r.outcome, r.produced) for r in synced] == [
            ("cms", JobOutcome.OK, 1)
        ]  # it connected, and read the row
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": name},
            ).scalar_one()
        assert left == 0  # closed as the run ended, not left to the garbage collector
    finally:
        admin.dispose()
        store.dispose()
