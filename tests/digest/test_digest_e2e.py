"""End to end: a fresh ``pressroom init`` site sends its digest through a real SMTP server.

``init`` writes placeholders; the site fills them in with the demo's values (the same
starter template, rendered by :func:`pressroom.demo.site_config.render_demo_config`).

Every message is read back from the aiosmtpd recorder and checked header by header; a
second ``digest send`` in the same period delivers nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from digestkit import init_site, parse_message
from smtpkit import Recorder, SmtpServer
from support import yesterday

from pressroom.cli import main
from pressroom.config import load_settings
from pressroom.tokens import read_token

pytestmark = pytest.mark.smtp

EVIL = "头条\r\nBcc: victim@example.org"


def _articles(now: datetime) -> list[dict[str, object]]:
    return [
        {"url": "https://dangjian.example.cn/a/1.html", "section": "benzhan-toutiao",
         "title": "省委召开全体会议", "summary": "会议强调,要把各项工作落到实处。",
         "published_at": (now - timedelta(hours=2)).isoformat(), "priority": "headline"},
        {"url": "https://dangjian.example.cn/a/2.html", "section": "jiceng-dangjian",
         "title": EVIL, "published_at": (now - timedelta(hours=3)).isoformat(),
         "priority": 2, "views": 1539},
        {"url": "https://dangjian.example.cn/a/3.html", "section": "jiceng-dangjian",
         "title": "普通稿件", "published_at": (now - timedelta(hours=1)).isoformat()},
    ]  # fmt: skip


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server) -> tuple[Path, Recorder]:  # type: ignore[no-untyped-def]
    """A site made by ``pressroom init`` with articles, subscribers and an SMTP relay."""
    recorder = Recorder()
    server: SmtpServer = smtp_server(recorder)
    config = str(init_site(tmp_path, monkeypatch, server, _articles(yesterday())))
    for args in (
        ["all@example.com", "--name", "王读者"],
        ["base@example.com", "--name", "Eve\r\nBcc: victim@example.org", "--sections", "基层党建"],
        ["top@example.com", "--sections", "本站头条,quanwei-fabu"],
        ["none@example.com", "--sections", "hongse-wenhua"],
        ["weekly@example.com", "--frequency", "weekly"],
    ):
        assert main(["--config", config, "subscribers", "add", *args]) == 0
    return Path(config), recorder


def test_digest_goes_through_smtp_once_with_every_header(
    site: tuple[Path, Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    config, recorder = site
    settings = load_settings(config)
    assert main(["--config", str(config), "digest", "send"]) == 0
    received = recorder.snapshot()
    by_rcpt = {r.rcpt_tos[0]: r for r in received}
    assert sorted(by_rcpt) == ["all@example.com", "base@example.com", "top@example.com"]
    assert len(received) == 3
    secret = settings.web.secret.get_secret_value()  # type: ignore[union-attr]
    titles = {}
    for rcpt, got in by_rcpt.items():
        assert got.mail_from == "newsletter@dangjian.example.cn"
        msg = parse_message(got.data)
        assert str(msg["From"]) == "辽宁党建网 <newsletter@dangjian.example.cn>"
        assert msg["To"].addresses[0].addr_spec == rcpt
        assert re.fullmatch(r"辽宁党建网 · \d+月\d+日 要闻 \d 篇", str(msg["Subject"]))
        assert abs(msg["Date"].datetime - datetime.now(UTC)) < timedelta(minutes=5)
        assert re.fullmatch(r"<[a-z2-7]{20}\.[a-z2-7]{16}\.daily\.\d{4}-\d\d-\d\d"
                            r"@dangjian\.example\.cn>", msg["Message-ID"])  # fmt: skip
        assert str(msg["List-Id"]) == "辽宁党建网 <daily.digest.dangjian.example.cn>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = re.search(r"<(https://news\.example\.cn/unsubscribe/([^>]+))>",
                         str(msg["List-Unsubscribe"]))  # fmt: skip
        assert link is not None and "<mailto:newsletter@dangjian.example.cn" in str(
            msg["List-Unsubscribe"]
        )
        assert read_token(secret, link.group(2), "unsubscribe", datetime.now(UTC)).public_key
        assert msg["Bcc"] is None and msg.get_content_type() == "multipart/alternative"
        assert max(len(line) for line in got.data.split(b"\r\n")) <= 998
        text = msg.get_body(("plain",)).get_content()
        titles[rcpt] = [
            t for t in ("省委召开全体会议", "头条 Bcc: victim@example.org") if t in text
        ]
    assert titles == {
        "all@example.com": ["省委召开全体会议", "头条 Bcc: victim@example.org"],
        "base@example.com": ["头条 Bcc: victim@example.org"],
        "top@example.com": ["省委召开全体会议"],
    }
    assert "普通稿件" not in by_rcpt["all@example.com"].data.decode("utf-8")
    assert "Eve Bcc: victim@example.org，您好" in by_rcpt["base@example.com"].data.decode("utf-8")
    assert "sent 3, failed 0" in capsys.readouterr().out

    assert main(["--config", str(config), "digest", "send"]) == 0
    assert len(recorder.snapshot()) == 3
    assert "already completed" in capsys.readouterr().out
