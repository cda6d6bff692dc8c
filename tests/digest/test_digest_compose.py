"""Digest messages: headers, MIME structure, wire limits, per-recipient fill-in, DKIM."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
from digestkit import SECTIONS, SITE, make_settings, parse_message
from support import NOW, SECRET
from support import make_settings as settings_with

from pressroom.config import Settings
from pressroom.delivery import verp
from pressroom.digest.compose import Composer, RunIdentity
from pressroom.digest.render import Renderer, RunInfo
from pressroom.digest.select import ContentCache
from pressroom.errors import ConfigError
from pressroom.models import Article, Frequency, Priority, Subscriber, SubscriberStatus
from pressroom.tokens import read_token
from pressroom.wiring import digest_config

EVIL_TITLE = "标题\r\nBcc: victim@example.org\r\n\r\n<script>alert(1)</script>"


def _articles(count: int = 3, title: str | None = None) -> list[Article]:
    found = []
    for n in range(1, count + 1):
        when = NOW - timedelta(hours=n)
        found.append(
            Article(
                n,
                f"https://www.example.cn/news/{n}.html",
                ["news", "china"][n % 2],
                title or f"第{n}条要闻",
                "摘要" * 40,
                "",
                "",
                None,
                when,
                when,
                100,
                Priority.HEADLINE,
            )
        )
    return found


def _key(ident: int) -> str:
    return f"key{ident:013d}"  # 16 base64url characters, as store.subscribers.new_public_key


def _subscriber(ident: int = 7, name: str = "王读者", *sections: str) -> Subscriber:
    return Subscriber(ident, f"reader{ident}@example.com", name, SubscriberStatus.ACTIVE,
                      Frequency.DAILY, sections, public_key=_key(ident))  # fmt: skip


def _composer(settings: Settings, articles: list[Article] | None = None,
              renderer: Renderer | None = None, run_id: int | str = 42) -> Composer:  # fmt: skip
    config = digest_config(settings)
    contents = ContentCache(articles or _articles(), SECTIONS, config.rules.max_items)
    run = RunIdentity(run_id, "daily", "2026-11-29", NOW)
    info = RunInfo(Frequency.DAILY, NOW - timedelta(days=1), NOW, config.zone)
    return Composer(config, contents, run, info, renderer)


def test_message_carries_every_header_the_spec_names(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    msg = _composer(settings)(_subscriber())
    parsed = parse_message(msg.data)
    assert str(parsed["From"]) == "测试新闻网 <digest@news.example.cn>"
    assert str(parsed["To"]) == "王读者 <reader7@example.com>"
    assert str(parsed["Subject"]) == "测试新闻网 · 11月28日 要闻 3 篇"
    assert parsed["Date"].datetime == NOW
    assert parsed["Message-ID"] == msg.message_id
    # the key is the delivery's bounce token: opaque, and read back only with the secret
    key = re.fullmatch(r"<([a-z2-7]{20}\.[a-z2-7]{16})\.daily\.2026-11-29@news\.example\.cn>",
                       msg.message_id)  # fmt: skip
    assert key is not None
    assert verp.read_token(SECRET, verp.Purpose.BOUNCE, key[1]) == (
        verp.TokenCheck.VALID, verp.VerpRef(7, 42))  # fmt: skip
    assert str(parsed["List-Id"]) == "测试新闻网 <daily.digest.news.example.cn>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", str(parsed["List-Unsubscribe"]))
    assert https.startswith("https://news.example.cn/unsubscribe/")
    token = read_token(SECRET, https.rsplit("/", 1)[1], "unsubscribe", NOW)
    assert token.public_key == _key(7)
    # [mail] unsubscribe_mailto with this delivery's signed token (pressroom.delivery.verp)
    mailto_token = re.fullmatch(r"mailto:unsubscribe\+([a-z2-7]{20}\.[a-z2-7]{16})"
                                r"@news\.example\.cn\?subject=unsubscribe", mailto)  # fmt: skip
    assert mailto_token is not None
    assert verp.read_token(SECRET, verp.Purpose.UNSUBSCRIBE, mailto_token[1]) == (
        verp.TokenCheck.VALID, verp.VerpRef(7, 42))  # fmt: skip
    assert parsed["Precedence"] == "bulk" and parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "8bit" for p in parts)
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert (msg.sender, msg.recipient) == ("digest@news.example.cn", "reader7@example.com")


def test_wire_format_is_crlf_with_short_lines_and_encoded_headers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    long_summary = [_a for _a in _articles(20)]
    data = _composer(settings, long_summary)(_subscriber()).data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # RFC 2047 words only: no raw UTF-8 in the headers
    assert len(data) < 102 * 1024


def test_cr_lf_in_titles_and_names_add_no_header(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    evil_name = "Eve\r\nBcc: victim@example.org"
    msg = _composer(settings, _articles(2, EVIL_TITLE))(_subscriber(9, evil_name))
    parsed = parse_message(msg.data)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in msg.data
    names = [k.lower() for k in parsed]
    assert len(names) == len(set(names))
    html = parsed.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Eve Bcc: victim@example.org，您好" in parsed.get_body(("plain",)).get_content()


def test_fill_in_matches_a_fresh_rendering_for_each_recipient(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    composer = _composer(settings)
    first, second = _subscriber(1, "甲 & <乙>"), _subscriber(2, "")
    for subscriber in (first, second):
        parsed = parse_message(composer(subscriber).data)
        view = composer.personal_view(subscriber)
        assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == view.text
        html = parsed.get_body(("html",)).get_content()
        assert html.replace("\r\n", "").replace("\n", "").replace(" ", "") == (
            view.html.replace("\n", "").replace(" ", "")
        )
    first_html = composer.personal_view(first).html
    assert "甲 &amp; &lt;乙&gt;，您好：" in first_html
    assert "您好：" in composer.personal_view(second).text
    assert "reader1@example.com" in first_html and "reader2@example.com" not in first_html


def test_message_ids_are_deterministic_and_links_personal(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    one, again = _composer(settings), _composer(settings)
    a, b = one(_subscriber(1)), again(_subscriber(1))
    assert a.message_id == b.message_id
    assert one(_subscriber(2)).message_id != a.message_id
    preview = _composer(settings, run_id="preview")  # no delivery to name: an HMAC alone
    shown = preview(_subscriber(1)).message_id
    assert shown == preview(_subscriber(1)).message_id
    assert re.fullmatch(r"<[a-z2-7]{16}\.daily\.2026-11-29@news\.example\.cn>", shown)
    unsubscribe, preferences = one.links(_subscriber(1))
    assert preferences.startswith("https://news.example.cn/preferences/")
    read = read_token(SECRET, preferences.rsplit("/", 1)[1], "preferences", NOW)
    assert read.public_key == _key(1)
    body = parse_message(a.data).get_body(("html",)).get_content()
    assert f'href="{unsubscribe}"' in body and f'href="{preferences}"' in body


class CountingRenderer(Renderer):
    """A renderer that counts its renderings."""

    calls = 0

    def render(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingRenderer.calls += 1
        return super().render(*args, **kwargs)


def test_render_happens_once_per_distinct_content(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    CountingRenderer.calls = 0
    composer = _composer(settings, renderer=CountingRenderer(digest_config(settings)))
    for ident in range(1, 31):
        composer(_subscriber(ident, "", *(["news"] if ident % 3 == 0 else [])))
        composer(_subscriber(ident, "", *(["china", "news"] if ident % 5 == 0 else [])))
    assert CountingRenderer.calls == 2  # "news" alone, and every section (china+news = all)


def test_nobody_gets_an_empty_message(tmp_path: Path) -> None:
    composer = _composer(make_settings(tmp_path))
    with pytest.raises(ValueError, match="no article in the chosen sections"):
        composer(_subscriber(1, "", "tech"))


def test_a_missing_secret_is_a_config_error_naming_web_secret(tmp_path: Path) -> None:
    settings = make_settings(tmp_path).model_copy(
        update={"web": make_settings(tmp_path).web.model_copy(update={"secret": None})}
    )
    with pytest.raises(ConfigError, match=r"web\.secret"):
        _composer(settings)


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """An RSA key and its DNS TXT record."""
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)  # fmt: skip
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout  # fmt: skip
    import base64

    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_verifies_and_covers_the_unsubscribe_headers(
    tmp_path: Path, dkim_key: tuple[Path, bytes]
) -> None:
    key, record = dkim_key
    mail = SITE["mail"] | {"reply_to": "editor@news.example.cn"}
    settings = settings_with(
        tmp_path,
        f'\n[mail.dkim]\ndomain = "news.example.cn"\nselector = "s1"\nkey_file = "{key}"\n',
        **(SITE | {"mail": mail}),
    )
    data = _composer(settings)(_subscriber()).data
    assert b"\r\nReply-To: editor@news.example.cn\r\n" in data
    assert data.startswith(b"DKIM-Signature:")
    signed = "".join(parse_message(data)["DKIM-Signature"].split()).lower()
    names = re.search(r"h=([^;]+)", signed).group(1).split(":")  # type: ignore[union-attr]
    for name in ("reply-to", "precedence", "auto-submitted", "message-id", "list-id"):
        assert names.count(name) == 1, name
    for name in ("from", "to", "subject", "date", "list-unsubscribe", "list-unsubscribe-post"):
        assert names.count(name) == 2, name  # over-signed: one more than the message holds

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.news.example.cn."
        return record

    assert dkim.verify(data, dnsfunc=dns)
    tampered = data.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"
    )
    assert not dkim.verify(tampered, dnsfunc=dns)
    added = data.replace(b"\r\nTo: ", b"\r\nSubject: =?utf-8?b?5Lit5aWW?=\r\nTo: ", 1)
    assert not dkim.verify(added, dnsfunc=dns)  # a second Subject added in transit
    for header in (b"Precedence: bulk", b"Auto-Submitted: auto-generated", b"Reply-To: editor"):
        assert not dkim.verify(data.replace(header, header + b"x"), dnsfunc=dns)


@pytest.mark.parametrize("content", [None, b"not a key"])
def test_an_unusable_dkim_key_is_a_config_error(tmp_path: Path, content: bytes | None) -> None:
    key = tmp_path / "dkim.pem"
    if content is not None:
        key.write_bytes(content)
    settings = make_settings(
        tmp_path, f'\n[mail.dkim]\ndomain = "x.cn"\nselector = "s1"\nkey_file = "{key}"\n'
    )
    with pytest.raises(ConfigError, match=r"mail\.dkim\.key_file: "):
        _composer(settings)


def test_lines_stay_under_998_bytes_with_the_longest_values(tmp_path: Path) -> None:
    folder = tmp_path / "crowded"
    folder.mkdir()
    one_line_body = "x" * 500 + " {{ recipient.greeting }} {{ recipient.email }} " + "y" * 300
    (folder / "digest.txt").write_text(one_line_body + " {{ recipient.unsubscribe_url }}\n")
    settings = make_settings(tmp_path, '[digest]\ntemplates_dir = "crowded"\n')
    longest = Subscriber(1, "&'" * 25 + "a@" + "b" * 60 + ".example.com", '"&<>' * 40,
                         SubscriberStatus.ACTIVE, Frequency.DAILY, public_key=_key(1))  # fmt: skip
    data = _composer(settings)(longest).data
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert b"&#x27;" in data or b"&amp;" in data


def test_a_crowded_template_line_is_folded_between_values(tmp_path: Path) -> None:
    folder = tmp_path / "crowded"
    folder.mkdir()
    (folder / "digest.txt").write_text(
        "{{ recipient.greeting }}{{ recipient.email }}{{ recipient.unsubscribe_url }}"
        "{{ recipient.preferences_url }}{{ recipient.email }}\n"
    )
    settings = make_settings(tmp_path, '[digest]\ntemplates_dir = "crowded"\n')
    composer = _composer(settings)
    data = composer(_subscriber()).data
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    text = parse_message(data).get_body(("plain",)).get_content()
    unsubscribe, preferences = composer.links(_subscriber())
    assert text.replace("\r\n", "").replace("\n", "") == (
        "王读者，您好：reader7@example.com" + unsubscribe + preferences + "reader7@example.com"
    )
