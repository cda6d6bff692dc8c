"""SMTPUTF8 (RFC 6531/6532): addresses with non-ASCII local parts, from the CLI through a
whole digest to aiosmtpd with and without ``enable_SMTPUTF8``."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from deliverykit import smtp_settings
from digestkit import init_site, parse_message
from smtpkit import SmtpServer
from support import yesterday
from wirekit import ScriptedHandler

from pressroom.cli import main
from pressroom.config import load_settings
from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.transport import PermanentFailure, SmtpTransport
from pressroom.errors import ImportRowError
from pressroom.models import SubscriberStatus
from pressroom.store.engine import open_store
from pressroom.store.subscribers import find_subscriber
from pressroom.subscribers.addresses import InvalidAddress, normalise_email
from pressroom.subscribers.roster import parse_row

pytestmark = [pytest.mark.smtp, pytest.mark.anyio]

ASCII = ["ann@example.com", "bob@example.com"]
UTF8 = ["读者@example.com", "josé.garcía@example.com"]


def test_a_non_ascii_local_part_is_accepted_only_with_smtputf8() -> None:
    with pytest.raises(InvalidAddress, match=r"读者@example\.com"):
        normalise_email("读者@example.com")
    assert normalise_email(" 读者@Example.COM ", smtputf8=True) == "读者@example.com"
    assert normalise_email("ann@bücher.example", smtputf8=False) == "ann@xn--bcher-kva.example"


def test_the_setting_reaches_the_csv_import(tmp_path: Path) -> None:
    from pressroom.subscribers.roster import SectionNames

    names = SectionNames([])
    row: dict[str, str | None] = {"email": "读者@example.com"}
    assert parse_row(row, names, smtputf8=True).email == "读者@example.com"
    with pytest.raises(ImportRowError, match=r"读者@example\.com"):
        parse_row(row, names)
    config = tmp_path / "pressroom.toml"
    config.write_text("[mail.smtp]\nsmtputf8 = true\n", encoding="utf-8")
    assert load_settings(config).mail.accepts_utf8_local_parts
    config.write_text("", encoding="utf-8")
    assert not load_settings(config).mail.accepts_utf8_local_parts


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: SmtpServer) -> str:
    """A demo site with two articles and subscribers (ASCII and UTF-8), relaying to
    ``server`` with ``[mail.smtp] smtputf8 = true``; its config path."""
    now = yesterday()  # in the window of a digest sent today
    rows = [
        {"url": "https://dangjian.example.cn/a/1.html", "section": "benzhan-toutiao",
         "title": "省委召开全体会议", "published_at": (now - timedelta(hours=2)).isoformat(),
         "priority": "headline"},
    ]  # fmt: skip
    config = str(init_site(tmp_path, monkeypatch, server, rows, SMTPUTF8="true"))
    for address in ASCII + UTF8:
        assert main(["--config", config, "subscribers", "add", address, "--name", "王读者"]) == 0
    return config


def test_a_digest_to_ascii_and_utf8_addresses_arrives_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: Callable[..., SmtpServer]
) -> None:
    handler = ScriptedHandler()
    config = _site(tmp_path, monkeypatch, smtp_server(handler, smtputf8=True))
    assert main(["--config", config, "digest", "send"]) == 0
    received = {r.rcpt_tos[0]: r for r in handler.snapshot()}
    assert sorted(received) == sorted(ASCII + UTF8)
    options = handler.options_by_rcpt
    for address, got in received.items():
        utf8 = not address.isascii()
        assert ("SMTPUTF8" in options[address]) is utf8
        assert "BODY=8BITMIME" in options[address]
        head = email.message_from_string(got.data.decode("utf-8"), policy=email.policy.default)
        assert head["To"].addresses[0].addr_spec == address  # RFC 6532: UTF-8 in the header
        msg = parse_message(got.data)  # the bodies, as bytes
        assert "王读者，您好" in msg.get_body(("plain",)).get_content()
        assert address in msg.get_body(("plain",)).get_content()
        assert msg.get_body(("html",)).get_content().rstrip().endswith("</html>")
        assert (b"=?utf-8?" in got.data.split(b"\r\nTo: ", 1)[1][:80]) is True  # the name
        assert got.data.endswith(b"\r\n") and not msg.defects


def test_without_smtputf8_utf8_addresses_fail_once_and_count_no_bounce(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: Callable[..., SmtpServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = ScriptedHandler()
    config = _site(tmp_path, monkeypatch, smtp_server(handler, smtputf8=False))
    main(["--config", config, "digest", "send"])
    assert sorted(r.rcpt_tos[0] for r in handler.snapshot()) == sorted(ASCII)
    assert handler.transactions == len(ASCII)  # nothing was tried for the others
    settings = load_settings(Path(config))
    store = open_store(settings.store_url)
    try:
        with store.read() as conn:
            for address in UTF8:
                found = find_subscriber(conn, address)
                assert found is not None and found.status is SubscriberStatus.ACTIVE
    finally:
        store.dispose()
    out = capsys.readouterr()
    assert "failed 2" in out.out, out


async def test_the_transport_names_the_one_reason(
    smtp_server: Callable[..., SmtpServer],
) -> None:
    server = smtp_server(ScriptedHandler(), smtputf8=False)
    msg = OutgoingMessage("newsletter@example.com", UTF8[0], b"Subject: x\r\n\r\nx\r\n", "<u@x>")
    async with SmtpTransport(smtp_settings(server, smtputf8=True)) as smtp:
        with pytest.raises(PermanentFailure) as caught:
            await smtp.send(msg)
    assert str(caught.value).endswith(f"the server does not offer SMTPUTF8, needed for {UTF8[0]}")
    assert not caught.value.bounce
    async with SmtpTransport(smtp_settings(server)) as smtp:  # the setting off
        with pytest.raises(PermanentFailure, match=r"smtputf8 = false") as caught:
            await smtp.send(msg)
    assert not caught.value.bounce
    assert server.handler.transactions == 0


def test_a_digest_through_a_relay_without_8bitmime_goes_quoted_printable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: Callable[..., SmtpServer]
) -> None:
    handler = ScriptedHandler(eightbitmime=False)
    config = _site(tmp_path, monkeypatch, smtp_server(handler, smtputf8=False))
    main(["--config", config, "digest", "send"])
    received = {r.rcpt_tos[0]: r for r in handler.snapshot()}
    assert sorted(received) == sorted(ASCII)
    assert handler.mail_options == [(), ()]
    for address, got in received.items():
        assert got.data.isascii()
        body = got.data.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045 6.7
        msg = parse_message(got.data)
        unsubscribe = str(msg["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
        for kind in ("plain", "html"):
            part = msg.get_body((kind,))
            assert part["Content-Transfer-Encoding"] == "quoted-printable"
            content = part.get_content()
            assert "王读者，您好" in content and address in content and unsubscribe in content
            assert "省委召开全体会议" in content
