"""Every feed of the demo site, read back by real parsers."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import lxml.html
from feedkit import DemoSite, active_content, json_feed, parse_feed, strict_xml
from storekit import newest_articles
from support import NOW

from pressroom.demo.corpus import demo_sections
from pressroom.feeds.jsonfeed import JSON_FEED_VERSION
from pressroom.importance import is_important
from pressroom.store.articles import list_sections

SEED_TITLE = "亲自部署!习近平:坚决打赢疫情防控阻击战"
SEED_PUBLISHED = datetime(2020, 1, 31, 14, 51, tzinfo=UTC)


def _feed_names(site: DemoSite) -> list[str]:
    return sorted(p.name for p in site.out.iterdir() if p.is_dir())


def test_the_demo_has_all_important_and_every_section(demo_site: DemoSite) -> None:
    expected = {"all", "important"} | {s.slug for s in demo_sections()}
    assert set(_feed_names(demo_site)) == expected
    assert demo_site.report.ok
    assert demo_site.report.feeds == len(expected) == 24
    assert sorted(demo_site.report.written) == sorted(
        [f"{name}/{file}" for name in expected for file in ("rss.xml", "atom.xml", "feed.json")]
        + ["feeds.opml", "index.html"]
    )


def test_every_xml_feed_parses_cleanly_with_complete_entries(demo_site: DemoSite) -> None:
    for name in _feed_names(demo_site):
        for file, version in (("rss.xml", "rss20"), ("atom.xml", "atom10")):
            path = demo_site.out / name / file
            strict_xml(path)
            parsed = parse_feed(path)
            assert parsed.version == version, path
            assert parsed.feed.title.startswith("辽宁党建网 · ")
            assert parsed.feed.language == "zh-CN"
            assert parsed.entries, path
            for entry in parsed.entries:
                assert entry.id and entry.title and entry.author and entry.link, entry
                assert entry.published_parsed, entry
                assert not active_content(entry.content[0].value), entry.link


def test_feed_updated_is_the_newest_item_not_now(demo_site: DemoSite) -> None:
    for name in _feed_names(demo_site):
        parsed = parse_feed(demo_site.out / name / "atom.xml")
        newest = max(calendar.timegm(e.updated_parsed) for e in parsed.entries)
        assert calendar.timegm(parsed.feed.updated_parsed) == newest
        assert calendar.timegm(parsed.feed.updated_parsed) < NOW.timestamp()


def test_entries_are_newest_first_and_capped(demo_site: DemoSite) -> None:
    parsed = parse_feed(demo_site.out / "all" / "rss.xml")
    times = [calendar.timegm(e.published_parsed) for e in parsed.entries]
    assert times == sorted(times, reverse=True)
    assert len(parsed.entries) == demo_site.settings.feeds.items


def test_json_feeds_have_the_required_fields(demo_site: DemoSite) -> None:
    for name in _feed_names(demo_site):
        data = json_feed(demo_site.out / name / "feed.json")
        assert data["version"] == JSON_FEED_VERSION
        assert data["title"] and data["feed_url"].endswith(f"/{name}/feed.json")
        assert data["hubs"] == [{"type": "WebSub", "url": "https://hub.example.net/"}]
        assert data["items"]
        for item in data["items"]:
            assert item["id"] and isinstance(item["id"], str)
            assert "content_html" in item or "content_text" in item
            datetime.fromisoformat(item["date_published"])
            assert item["authors"] and item["authors"][0]["name"]


def test_the_seed_article_is_intact_in_its_section(demo_site: DemoSite) -> None:
    parsed = parse_feed(demo_site.out / "zhongyao-jianghua" / "atom.xml")
    seed = next(e for e in parsed.entries if e.title == SEED_TITLE)
    assert calendar.timegm(seed.published_parsed) == SEED_PUBLISHED.timestamp()
    assert [a.name for a in seed.authors] == ["岳小乔", "王靖远", "王宇峰"]
    assert seed.tags[0].term == "重要讲话"
    body = seed.content[0].value
    assert "<h3>第一位</h3>" in body
    assert 'src="https://dangjian.example.cn/1580220320364979.jpg?x-oss-process=style/w10"' in body
    assert seed.summary.startswith("新型冠状病毒感染的肺炎疫情")
    rss = parse_feed(demo_site.out / "zhongyao-jianghua" / "rss.xml")
    seed_rss = next(e for e in rss.entries if e.title == SEED_TITLE)
    assert seed_rss.enclosures[0].href.startswith("https://dangjian.example.cn/")
    assert seed_rss.media_thumbnail[0]["url"] == seed_rss.enclosures[0].href
    data = json_feed(demo_site.out / "zhongyao-jianghua" / "feed.json")
    seed_json = next(i for i in data["items"] if i["title"] == SEED_TITLE)
    assert seed_json["date_published"] == "2020-01-31T14:51:00Z"
    assert seed_json["image"] == seed_rss.enclosures[0].href


def test_the_important_feed_is_the_newest_important_articles(demo_site: DemoSite) -> None:
    with demo_site.store.read() as conn:
        weights = {s.slug: s.weight for s in list_sections(conn)}
        newest = newest_articles(conn, None, 10_000, NOW)
    rules = demo_site.settings.digest.importance
    expected = [a.url for a in newest if is_important(a, weights, rules)][:50]
    parsed = parse_feed(demo_site.out / "important" / "rss.xml")
    assert [e.link for e in parsed.entries] == expected
    assert 0 < len(expected) < len(newest)


def test_feed_level_fields(demo_site: DemoSite) -> None:
    atom = ET.fromstring((demo_site.out / "all" / "atom.xml").read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    links = {link.get("rel"): link.get("href") for link in atom.findall("a:link", ns)}
    assert links == {
        "self": "https://feeds.dangjian.example.cn/all/atom.xml",
        "hub": "https://hub.example.net/",
        "alternate": "https://dangjian.example.cn/",
    }
    assert atom.findtext("a:title", namespaces=ns) == "辽宁党建网 · 全部文章"
    assert atom.find("a:generator", ns) is not None
    rss = ET.fromstring((demo_site.out / "important" / "rss.xml").read_bytes())
    channel = rss.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "辽宁党建网 · 要闻"
    assert channel.findtext("link") == "https://dangjian.example.cn/"
    assert channel.findtext("ttl") == "60"
    atom_links = {link.get("rel"): link.get("href") for link in channel.findall("a:link", ns)}
    assert atom_links == {
        "self": "https://feeds.dangjian.example.cn/important/rss.xml",
        "hub": "https://hub.example.net/",
    }
    assert b"sy:updatePeriod" not in (demo_site.out / "all" / "rss.xml").read_bytes()


def test_the_opml_subscribes_to_each_article_once(demo_site: DemoSite) -> None:
    """The sections in one outline (each article once on import); ``all`` and ``important``,
    which repeat them, offered as links in another (issue 22: 57 of 111 arrived 2-3 times)."""
    opml = ET.fromstring((demo_site.out / "feeds.opml").read_bytes())
    assert opml.get("version") == "2.0"
    sections, aggregates = opml.findall("body/outline")
    assert sections.get("text") == "栏目" and aggregates.get("text").startswith("汇总")
    subscribed = [o for o in opml.iter("outline") if o.get("xmlUrl")]
    assert subscribed == sections.findall("outline")
    public = "https://feeds.dangjian.example.cn/"
    names = [n for n in _feed_names(demo_site) if n not in ("all", "important")]
    assert {o.get("xmlUrl") for o in subscribed} == {f"{public}{n}/rss.xml" for n in names}
    assert all(o.get("title") and o.get("htmlUrl") and o.get("type") == "rss" for o in subscribed)
    links = aggregates.findall("outline")
    assert [(o.get("type"), o.get("url")) for o in links] == [
        ("link", f"{public}all/rss.xml"), ("link", f"{public}important/rss.xml")
    ]  # fmt: skip
    assert links[0].get("title") == "辽宁党建网 · 全部文章"


def test_the_index_page_lists_every_feed_with_its_newest_item(demo_site: DemoSite) -> None:
    page = lxml.html.fromstring((demo_site.out / "index.html").read_bytes())
    assert page.get("lang") == "zh-CN"
    items = page.xpath("//li[@class='feed']")
    assert len(items) == len(_feed_names(demo_site))
    first = parse_feed(demo_site.out / "all" / "rss.xml").entries[0]
    section = page.xpath("//li[@id='feed-all']")[0]
    assert section.xpath(".//h2")[0].text == "全部文章"
    assert section.xpath(".//p[@class='newest']/a")[0].text == first.title
    hrefs = section.xpath(".//p[@class='links']/a/@href")
    assert hrefs == ["all/rss.xml", "all/atom.xml", "all/feed.json"]
    for href in page.xpath("//p[@class='links']/a/@href"):
        assert (demo_site.out / href).is_file()
    assert page.xpath("//a[@href='feeds.opml']")
