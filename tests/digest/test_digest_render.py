"""Rendering: local dates, inlined CSS with the media rules kept, overrides, escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from digestkit import SECTIONS, make_settings
from support import NOW, SHANGHAI

from pressroom.clock import display_time
from pressroom.digest.render import Renderer, RunInfo
from pressroom.digest.select import cut_for
from pressroom.errors import ConfigError
from pressroom.models import Article, Frequency, Priority
from pressroom.wiring import digest_config

DAY = RunInfo(Frequency.DAILY, NOW - timedelta(days=1), NOW, SHANGHAI)
WEEK = RunInfo(Frequency.WEEKLY, NOW - timedelta(days=7), NOW, SHANGHAI)


def _content(image: str | None = "https://img.example.cn/1.jpg", title: str = "头条<新闻>"):  # type: ignore[no-untyped-def]
    when = datetime(2020, 1, 31, 14, 51, tzinfo=UTC)
    articles = [
        Article(1, "https://www.example.cn/a?x=1&y=2", "news", title, "摘要&说明", "", "",
                image, when, when, 0, Priority.HEADLINE),
        Article(2, "https://www.example.cn/b", "china", "第二条", "", "", "", None,
                when - timedelta(hours=1), when, 0, Priority.HEADLINE),
    ]  # fmt: skip
    return cut_for(articles, [], SECTIONS, 20)


def test_local_dates_read_as_on_the_site() -> None:
    when = datetime(2020, 1, 31, 14, 51, tzinfo=UTC)
    assert display_time(when, SHANGHAI) == "2020年1月31日 22:51"


def test_html_has_inlined_css_media_rules_preheader_alt_texts_and_escaping(
    tmp_path: Path,
) -> None:
    renderer = Renderer(digest_config(make_settings(tmp_path)))
    out = renderer.render(_content(), DAY)
    html = out.html
    assert 'class="page"' in html and "max-width: 600px" in html  # inlined from <style>
    assert "@media only screen and (max-width: 620px)" in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert 'class="preheader"' in html and "头条&lt;新闻&gt; · 第二条" in html
    assert 'alt=""' in html and 'alt="头条' not in html  # the linked title follows the image
    assert "https://www.example.cn/a?x=1&amp;y=2" in html and "摘要&amp;说明" in html
    assert "2020年1月31日 22:51" in html and "北京市东城区测试路1号" in html
    assert renderer.marks["unsubscribe_url"] in html and renderer.marks["greeting"] in html
    assert out.subject == "测试新闻网 · 11月28日 要闻 2 篇"
    assert "1. 头条<新闻>" in out.text and "   摘要&说明" in out.text  # the text part is raw
    assert "【要闻】" in out.text and "2. 第二条" in out.text


def test_operator_templates_override_the_packaged_ones(tmp_path: Path) -> None:
    folder = tmp_path / "mytemplates"
    folder.mkdir()
    (folder / "subject.txt").write_text("【{{ site }}】{{ count }} 条:{{ first_title }}")
    (folder / "digest.txt").write_text(
        "{% for g in groups %}{% for i in g.articles %}* {{ i.title }}\n{% endfor %}{% endfor %}"
        "{{ recipient.unsubscribe_url }}\n"
    )
    settings = make_settings(tmp_path, '[digest]\ntemplates_dir = "mytemplates"\n')
    renderer = Renderer(digest_config(settings))
    out = renderer.render(_content(), DAY)
    assert out.subject == "【测试新闻网】2 条:头条<新闻>"
    assert out.text == f"* 头条<新闻>\n* 第二条\n{renderer.marks['unsubscribe_url']}\n"
    assert 'class="cell masthead"' in out.html  # digest.html still the packaged one


def test_config_subject_is_used_without_an_override(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, '[digest]\nsubject = "{{ site }}:{{ period }}精选"\n')
    out = Renderer(digest_config(settings)).render(_content(), WEEK)
    assert out.subject == "测试新闻网:11月22日至11月28日精选"


def test_a_broken_template_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "digest.html").write_text("{% for x in %}")
    settings = make_settings(tmp_path, '[digest]\ntemplates_dir = "broken"\n')
    with pytest.raises(ConfigError, match=r"digest\.html: line 1"):
        Renderer(digest_config(settings)).render(_content(), DAY)
    missing = make_settings(tmp_path, '[digest]\ntemplates_dir = "nowhere"\n')
    with pytest.raises(ConfigError, match=r"digest\.templates_dir: .*nowhere is not a folder"):
        Renderer(digest_config(missing))


def test_only_web_urls_reach_the_mail(tmp_path: Path) -> None:
    when = NOW - timedelta(hours=1)
    hostile = [
        Article(1, "javascript:alert(1)", "news", "甲", "", "", "", "data:image/png;base64,AAAA",
                when, when, 0, Priority.HEADLINE),
        Article(2, "/news/2.html", "china", "乙", "", "", "", "//img.example.cn/2.jpg",
                when, when, 0, Priority.HEADLINE),
    ]  # fmt: skip
    out = Renderer(digest_config(make_settings(tmp_path))).render(
        cut_for(hostile, [], SECTIONS, 20), DAY
    )
    assert "javascript:" not in out.html and "data:" not in out.html
    assert 'href="https://www.example.cn/news/2.html"' in out.html
    assert 'src="https://img.example.cn/2.jpg"' in out.html
    assert "   https://www.example.cn/\n" in out.text  # the site instead of the bad link
