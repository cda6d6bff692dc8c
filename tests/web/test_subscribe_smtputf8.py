"""The subscribe form and an address with a non-ASCII local part ([mail.smtp] smtputf8)."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_string, policy
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webkit import FakeClock, Outbox, make_settings, write_feeds

from pressroom.config import Settings
from pressroom.models import SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscribers import find_subscriber
from pressroom.web import create_app


def _settings(tmp_path: Path, smtputf8: bool) -> Settings:
    settings = make_settings(tmp_path)
    write_feeds(settings.path(settings.feeds.output_dir))
    smtp = settings.mail.smtp.model_copy(update={"smtputf8": smtputf8})
    return settings.model_copy(update={"mail": settings.mail.model_copy(update={"smtp": smtp})})


@pytest.fixture(params=[True, False], ids=["smtputf8", "ascii-only"])
def utf8_client(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    web_store: Store,
    clock: FakeClock,
    outbox: Outbox,
) -> Iterator[tuple[TestClient, bool]]:
    settings = _settings(tmp_path, request.param)
    app = create_app(settings, web_store, clock, send=outbox.send)
    with TestClient(app) as client:
        yield client, request.param


def test_a_utf8_local_part_subscribes_only_with_smtputf8(
    utf8_client: tuple[TestClient, bool], web_store: Store, outbox: Outbox
) -> None:
    client, smtputf8 = utf8_client
    response = client.post("/subscribe", data={"email": "读者@Example.COM", "frequency": "daily"})
    with web_store.read() as conn:
        saved = find_subscriber(conn, "读者@example.com")
    if not smtputf8:
        assert response.status_code == 400 and "电子邮箱格式不正确" in response.text
        assert saved is None and outbox.messages == []
        return
    assert response.status_code == 200
    assert saved is not None and saved.status is SubscriberStatus.PENDING
    (mail,) = outbox.messages
    assert mail.recipient == "读者@example.com"
    head = message_from_string(mail.data.decode("utf-8"), policy=policy.default)
    assert head["To"].addresses[0].addr_spec == "读者@example.com"  # RFC 6532, not encoded words
