"""The ingest API's test site: its token, its one section, and an article to post."""

from __future__ import annotations

__all__ = ["AUTH", "SECTIONS", "TOKEN", "article"]

TOKEN = "ingest-token-0123456789-0123456789-abc"
"""``[web] ingest_token`` of the test sites."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECTIONS = '[[sections]]\nslug = "domestic"\nname = "国内"\n'
"""The one section, ``国内`` (slug ``domestic``), as TOML."""


def article(n: int, **fields: object) -> dict[str, object]:
    """Article ``n`` of ``国内`` as the API takes it, with ``fields`` added or replaced."""
    return {
        "url": f"https://news.example.cn/{n}.html",
        "section": "国内",
        "title": f"第 {n} 篇",
        "published_at": "2026-11-28T16:00:00+08:00",
        **fields,
    }
