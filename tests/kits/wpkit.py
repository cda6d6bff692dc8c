"""A WordPress database in the real MariaDB: WordPress's own tables, rows as WordPress writes them.

``mysql_database()`` makes a fresh database per test on the server named by
``$PRESSROOM_TEST_MYSQL_URL`` (skipping without it) and drops it afterwards.
:class:`WordPress` creates the tables from ``wordpress_schema.sql`` (written from
WordPress's ``schema.php``) and writes posts, categories, sticky posts and meta the way
WordPress does (``_gmt`` columns in UTC, local columns in the blog's zone, the PHP-serialised
``sticky_posts`` option).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

MYSQL_ENV = "PRESSROOM_TEST_MYSQL_URL"
SCHEMA = Path(__file__).with_name("wordpress_schema.sql")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def mysql_base_url() -> str:
    """``$PRESSROOM_TEST_MYSQL_URL``, or skip the test."""
    url = os.environ.get(MYSQL_ENV)
    if not url:
        pytest.skip(
            f"MariaDB tests need ${MYSQL_ENV} (e.g. mysql+pymysql://root@127.0.0.1:3306/test)"
        )
    return url


@contextmanager
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB database for one test; its URL."""
    base = make_url(mysql_base_url())
    name = f"pr_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@contextmanager
def wordpress_with(categories: dict[str, str]) -> Iterator[WordPress]:
    """A fresh WordPress database for one test, with ``categories`` (slug -> name)."""
    with mysql_database() as url:
        site = WordPress(url)
        for slug, name in categories.items():
            site.category(slug, name)
        try:
            yield site
        finally:
            site.close()


class WordPress:
    """A WordPress blog's tables and the writes its editor makes."""

    def __init__(self, url: str, prefix: str = "wp_") -> None:
        self.engine: Engine = create_engine(url)
        self.prefix = prefix
        with self.engine.begin() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = ''")  # WordPress's own zero dates
            for statement in SCHEMA.read_text().split(";"):
                if statement.strip() and "CREATE" in statement:
                    conn.exec_driver_sql(statement.replace("{prefix}", prefix))
            self._run(conn, "INSERT INTO {p}options (option_name, option_value) "
                      "VALUES ('sticky_posts', 'a:0:{}')")  # fmt: skip
            self._run(conn, "INSERT INTO {p}users (user_login, display_name) "
                      "VALUES ('admin', '本报记者 王芳')")  # fmt: skip
        self.terms: dict[str, int] = {}  # slug -> term_taxonomy_id
        self.term_ids: dict[str, int] = {}  # slug -> term_id

    def _run(self, conn: Any, sql: str, **params: Any) -> Any:
        return conn.execute(text(sql.replace("{p}", self.prefix)), params)

    def run(self, sql: str, **params: Any) -> Any:
        """Run one statement (``{p}`` is the table prefix) in its own transaction."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = ''")
            return self._run(conn, sql, **params)

    def category(self, slug: str, name: str, parent: str | None = None) -> int:
        """Add a category (under the category ``parent``, a slug); its term_taxonomy_id."""
        with self.engine.begin() as conn:
            term = self._run(
                conn, "INSERT INTO {p}terms (name, slug) VALUES (:n, :s)", n=name, s=slug
            )
            tt = self._run(
                conn,
                "INSERT INTO {p}term_taxonomy (term_id, taxonomy, description, parent) "
                "VALUES (:t, 'category', '', :parent)",
                t=term.lastrowid,
                parent=self.term_ids[parent] if parent else 0,
            )
        self.term_ids[slug] = int(term.lastrowid)
        self.terms[slug] = int(tt.lastrowid)
        return self.terms[slug]

    def post(
        self,
        title: str,
        *,
        categories: tuple[str, ...] = (),
        content: str = "正文第一段。\n\n正文第二段。",
        status: str = "publish",
        date: datetime | None = None,
        modified: datetime | None = None,
        slug: str = "",
        excerpt: str = "",
    ) -> int:
        """Publish (or save) a post as WordPress does; its ID."""
        date = date or datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        modified = modified or date
        draft = status in ("draft", "pending")
        with self.engine.begin() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = ''")
            done = self._run(
                conn,
                "INSERT INTO {p}posts (post_author, post_date, post_date_gmt, post_content, "
                "post_title, post_excerpt, post_status, post_name, to_ping, pinged, post_modified, "
                "post_modified_gmt, post_content_filtered, guid, post_type) VALUES (1, :d, :dg, "
                ":c, :t, :e, :s, :n, '', '', :m, :mg, '', '', 'post')",
                d=_local(date),
                dg="0000-00-00 00:00:00" if draft else _utc(date),
                c=content,
                t=title,
                e=excerpt,
                s=status,
                n=slug,
                m=_local(modified),
                mg=_utc(modified),
            )
            post_id = int(done.lastrowid)
            for order, slug_ in enumerate(categories):
                self._run(
                    conn,
                    "INSERT INTO {p}term_relationships (object_id, term_taxonomy_id, term_order) "
                    "VALUES (:o, :t, :n)",
                    o=post_id,
                    t=self.terms[slug_],
                    n=order,
                )
        return post_id

    def edit(self, post_id: int, modified: datetime | None, **columns: Any) -> None:
        """Change a post's columns; with ``modified``, as WordPress's editor does (new times)."""
        sets = dict(columns)
        if modified is not None:
            sets |= {"post_modified": _local(modified), "post_modified_gmt": _utc(modified)}
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        self.run(f"UPDATE {{p}}posts SET {assignments} WHERE ID = :id", id=post_id, **sets)

    def sticky(self, *ids: int) -> None:
        """Make ``ids`` the sticky posts (the PHP-serialised option WordPress keeps)."""
        value = f"a:{len(ids)}:{{" + "".join(f"i:{n};i:{i};" for n, i in enumerate(ids)) + "}"
        self.run(
            "UPDATE {p}options SET option_value = :v WHERE option_name = 'sticky_posts'", v=value
        )

    def meta(self, post_id: int, key: str, value: str) -> None:
        """Add a post meta row."""
        self.run(
            "INSERT INTO {p}postmeta (post_id, meta_key, meta_value) VALUES (:p, :k, :v)",
            p=post_id,
            k=key,
            v=value,
        )

    def delete(self, post_id: int) -> None:
        """Delete a post outright (``wp_delete_post`` with force: no trash)."""
        self.run("DELETE FROM {p}term_relationships WHERE object_id = :i", i=post_id)
        self.run("DELETE FROM {p}posts WHERE ID = :i", i=post_id)

    def close(self) -> None:
        """Close the connections."""
        self.engine.dispose()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def later(moment: datetime, **parts: float) -> datetime:
    """``moment`` plus ``parts`` (a timedelta's keywords)."""
    return moment + timedelta(**parts)
