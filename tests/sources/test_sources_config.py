"""``[sources.<name>]`` in the config: kinds, defaults, durations, the password from the
environment, and the mistakes ``config check`` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressroom.config import SqlSourceSettings, WordPressSourceSettings, load_settings
from pressroom.errors import ConfigError

WORDPRESS = """
[sources.blog]
kind = "wordpress"
url = "mysql+pymysql://reader@127.0.0.1/wp"
home = "https://blog.example.cn/"
interval = "2s"
reconcile = "6h"
"""


def load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pressroom.toml"
    path.write_text(body, encoding="utf-8")
    return load_settings(path)


def test_a_wordpress_source_with_defaults_and_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRESSROOM_SOURCES__BLOG__PASSWORD", "s3cret")

    source = load(tmp_path, WORDPRESS).sources["blog"]

    assert isinstance(source, WordPressSourceSettings)
    assert (source.interval, source.overlap, source.reconcile) == (2.0, 300, 21600)
    assert source.home == "https://blog.example.cn"
    assert source.table_prefix == "wp_" and source.permalink == "{home}/?p={id}"
    assert source.password is not None and source.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(source)


def test_a_sql_source(tmp_path: Path) -> None:
    body = '[sources.cms]\nkind = "sql"\nurl = "sqlite:///c.db"\nquery = "SELECT 1 WHERE :since"\n'
    source = load(tmp_path, body).sources["cms"]
    assert isinstance(source, SqlSourceSettings) and source.interval == 5.0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            '[sources.cms]\nkind = "sql"\nurl = "sqlite:///x.db"\nquery = "SELECT 1"\n',
            "sources.cms.sql.query: must use the :since parameter",
        ),
        (
            '[sources.cms]\nkind = "oracle"\nurl = "sqlite:///x.db"\n',
            "sources.cms: Input tag 'oracle' found using 'kind' does not match",
        ),
        (
            WORDPRESS.replace("blog]", "Blog-1]"),
            "sources: source name 'Blog-1' must be lower-case letters, digits and _",
        ),
        (
            WORDPRESS + 'permalink = "{home}/{title}/"\n',
            "sources.blog.wordpress.permalink: unknown placeholder {title}",
        ),
        (
            WORDPRESS.replace("mysql+pymysql", "oracle"),
            "sources.blog.wordpress.url: must be a SQLAlchemy URL starting with mysql+pymysql://",
        ),
    ],
)
def test_mistakes_are_named(tmp_path: Path, body: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_a_short_ingest_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[web]\ningest_token = "short"\n')
    assert "web.ingest_token: must be at least 32 characters" in str(caught.value)
