"""Unsubscribe (page and RFC 8058 one-click) and preferences (form-token protected)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from storekit import add_subscriber
from webkit import SECRET, FakeClock, Outbox, make_settings

from pressroom.models import Frequency, Subscriber, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscribers import get_subscriber
from pressroom.tokens import make_token
from pressroom.web import create_app

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def active(web_store: Store, clock: FakeClock) -> Subscriber:
    with web_store.write() as conn:
        return add_subscriber(
            conn, "reader@example.com", name="读者", sections=["guoji"], now=clock()
        )


def reload(store: Store, subscriber: Subscriber) -> Subscriber:
    with store.read() as conn:
        found = get_subscriber(conn, subscriber.id)
    assert found is not None
    return found


def token(purpose: str, subscriber: Subscriber, clock: FakeClock) -> str:
    nonce = "A" * 16 if purpose == "confirm" else None
    return make_token(SECRET, purpose, subscriber.public_key, clock(), nonce)


def test_get_unsubscribe_shows_a_button_and_changes_nothing(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/unsubscribe/{token('unsubscribe', active, clock)}"
    for _ in range(3):  # link scanners and previewers fetch GET links, repeatedly
        page = client.get(url)
        assert page.status_code == 200
        assert "确认退订" in page.text
        assert f'action="{url}"' in page.text
    assert client.head(url).status_code == 200
    assert reload(web_store, active).status == SubscriberStatus.ACTIVE


def test_one_click_post_unsubscribes_at_once_and_is_idempotent(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/unsubscribe/{token('unsubscribe', active, clock)}"
    client.cookies.clear()
    first = client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert first.status_code == 200
    assert "已退订" in first.text
    assert reload(web_store, active).status == SubscriberStatus.UNSUBSCRIBED
    assert "set-cookie" not in first.headers
    second = client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert second.status_code == 200
    assert reload(web_store, active).status == SubscriberStatus.UNSUBSCRIBED
    page = client.get(url)  # after unsubscribing, the GET page says so
    assert page.status_code == 200 and "已退订" in page.text


def test_one_click_from_a_foreign_origin_still_works(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/unsubscribe/{token('unsubscribe', active, clock)}"
    headers = {**ONE_CLICK, "Origin": "https://mail.example.net", "Sec-Fetch-Site": "cross-site"}
    response = client.post(url, content=b"List-Unsubscribe=One-Click", headers=headers)
    assert response.status_code == 200
    assert reload(web_store, active).status == SubscriberStatus.UNSUBSCRIBED


def test_the_page_button_unsubscribes(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/unsubscribe/{token('unsubscribe', active, clock)}"
    page = client.get(url)
    assert re.search(r'<form method="post" action="([^"]+)">', page.text).group(1) == url  # type: ignore[union-attr]
    response = client.post(url, data={}, headers={"Origin": "http://testserver"})
    assert response.status_code == 200
    assert reload(web_store, active).status == SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_forged_unsubscribe_tokens_are_400_and_change_nothing(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock, method: str
) -> None:
    good = token("unsubscribe", active, clock)
    other_key = "B" * 16 if active.public_key != "B" * 16 else "C" * 16
    other = make_token(SECRET, "unsubscribe", other_key, clock())
    forged = [
        good[:22] + good[22:][::-1],
        other[:22] + good[22:],  # someone else's key with this signature
        make_token("a-different-secret-123456", "unsubscribe", active.public_key, clock()),
        token("confirm", active, clock),
        token("preferences", active, clock)[:-1] + "A",
        good + "A",
        good + "=",
        good[:-1],
        "x.y",
    ]
    for bad in forged:
        response = client.request(
            method, f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
        )
        assert response.status_code == 400, bad
    assert reload(web_store, active).status == SubscriberStatus.ACTIVE


def test_preferences_page_shows_current_choices(
    client: TestClient, active: Subscriber, clock: FakeClock
) -> None:
    page = client.get(f"/preferences/{token('preferences', active, clock)}")
    assert page.status_code == 200
    assert "reader@example.com" in page.text
    assert re.search(r'value="guoji" checked', page.text)
    assert not re.search(r'value="keji" checked', page.text)
    assert re.search(r'value="daily" checked', page.text)
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "same-origin"


def _form_token(client: TestClient, url: str) -> str:
    match = re.search(r'name="form_token" value="(\w+)"', client.get(url).text)
    assert match
    return match.group(1)


def test_preferences_are_saved(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/preferences/{token('preferences', active, clock)}"
    data = {
        "form_token": _form_token(client, url),
        "sections": ["keji", "shizheng"],
        "frequency": "weekly",
        "action": "save",
    }
    response = client.post(url, data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{url}?saved=1"
    after = reload(web_store, active)
    assert after.sections == ("keji", "shizheng")
    assert after.frequency == Frequency.WEEKLY
    assert after.status == SubscriberStatus.ACTIVE
    shown = client.get(response.headers["location"])
    assert "已保存" in shown.text
    data["sections"] = []
    client.post(url, data=data)
    assert reload(web_store, active).sections == ()  # none chosen = every section


def test_preferences_unsubscribe_button(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/preferences/{token('preferences', active, clock)}"
    data = {"form_token": _form_token(client, url), "action": "unsubscribe"}
    response = client.post(url, data=data)
    assert response.status_code == 200 and "已退订" in response.text
    assert reload(web_store, active).status == SubscriberStatus.UNSUBSCRIBED
    page = client.get(url)
    assert "重新订阅" in page.text and "退订</button>" not in page.text


@pytest.mark.parametrize(
    ("extra", "headers"),
    [
        ({}, {}),  # no form token
        ({"form_token": "0" * 32}, {}),  # a wrong one
        ("valid", {"Origin": "https://evil.example"}),
        ("valid", {"Sec-Fetch-Site": "cross-site"}),
    ],
)
def test_cross_site_preferences_posts_are_refused(
    client: TestClient,
    web_store: Store,
    active: Subscriber,
    clock: FakeClock,
    extra: object,
    headers: dict[str, str],
) -> None:
    url = f"/preferences/{token('preferences', active, clock)}"
    data: dict[str, object] = {"sections": ["keji"], "frequency": "weekly", "action": "save"}
    if extra == "valid":
        data["form_token"] = _form_token(client, url)
    else:
        data.update(extra)  # type: ignore[call-overload]
    response = client.post(url, data=data, headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 403
    assert reload(web_store, active) == active
    data["action"] = "unsubscribe"
    assert client.post(url, data=data, headers=headers).status_code == 403  # type: ignore[arg-type]
    assert reload(web_store, active).status == SubscriberStatus.ACTIVE


def test_form_token_of_another_subscriber_does_not_pass(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    with web_store.write() as conn:
        other = add_subscriber(conn, "other@example.com", now=clock())
    mine = _form_token(client, f"/preferences/{token('preferences', other, clock)}")
    url = f"/preferences/{token('preferences', active, clock)}"
    response = client.post(url, data={"form_token": mine, "frequency": "weekly"})
    assert response.status_code == 403
    assert reload(web_store, active) == active


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"sections": ["nope"], "frequency": "daily"}, "没有这个栏目"),
        ({"frequency": "monthly"}, "每日或每周"),
        ({"sections": ["keji"]}, "请选择接收频率"),
    ],
)
def test_bad_preferences_are_400_and_change_nothing(
    client: TestClient,
    web_store: Store,
    active: Subscriber,
    clock: FakeClock,
    data: dict[str, object],
    problem: str,
) -> None:
    url = f"/preferences/{token('preferences', active, clock)}"
    posted = {**data, "form_token": _form_token(client, url), "action": "save"}
    response = client.post(url, data=posted)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert problem in response.text
    assert reload(web_store, active) == active


def test_bad_preferences_tokens_are_400(
    client: TestClient, active: Subscriber, clock: FakeClock
) -> None:
    for bad in ("nonsense", token("unsubscribe", active, clock), token("confirm", active, clock)):
        assert client.get(f"/preferences/{bad}").status_code == 400
        assert client.post(f"/preferences/{bad}", data={"frequency": "weekly"}).status_code == 400


def test_preferences_links_do_not_expire(
    client: TestClient, active: Subscriber, clock: FakeClock
) -> None:
    url = f"/preferences/{token('preferences', active, clock)}"
    clock.advance(days=400)
    assert client.get(url).status_code == 200


def test_token_guessing_is_rate_limited(client: TestClient) -> None:
    codes = [client.get(f"/unsubscribe/guess{i}.x").status_code for i in range(70)]
    assert codes[:60] == [400] * 60
    assert codes[-1] == 429


def test_wrong_methods_are_405(client: TestClient, active: Subscriber, clock: FakeClock) -> None:
    assert client.put(f"/unsubscribe/{token('unsubscribe', active, clock)}").status_code == 405
    assert client.delete("/subscribe").status_code == 405
    assert client.post("/all/rss.xml").status_code == 405


def test_forms_and_links_follow_a_public_url_with_a_path(
    tmp_path: Path, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    (tmp_path / "prefixed").mkdir()
    settings = make_settings(tmp_path / "prefixed", public_url="http://testserver/news/")
    app = create_app(settings, web_store, clock, send=outbox.send)
    with TestClient(app) as prefixed:
        assert 'action="/news/subscribe"' in prefixed.get("/subscribe").text
        prefixed.post("/subscribe", data={"email": "p@example.com"})
        assert outbox.link().startswith("http://testserver/news/confirm/")
        page = prefixed.get("/confirm/" + outbox.link().rsplit("/", 1)[1])
        action = re.search(r'action="([^"]+)"', page.text)
        form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert action and form_token
        assert action.group(1) == "/news/confirm/" + outbox.link().rsplit("/", 1)[1]
        confirmed = prefixed.post(
            "/confirm/" + outbox.link().rsplit("/", 1)[1],
            data={"form_token": form_token.group(1)},
        )
        assert 'href="http://testserver/news/preferences/' in confirmed.text


def test_a_legacy_digest_unsubscribe_link_still_unsubscribes(
    client: TestClient, web_store: Store, active: Subscriber, clock: FakeClock
) -> None:
    """Digests sent before the public-key tokens carry base64(json).base64(mac) links with
    the id; for LEGACY_UNSUBSCRIBE_DAYS they still unsubscribe (read strictly)."""

    def legacy_token(purpose: str) -> str:
        issued = int(clock().timestamp())
        raw = json.dumps([purpose, active.id, issued], separators=(",", ":")).encode()
        mac = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()[:18]
        b64 = base64.urlsafe_b64encode
        return f"{b64(raw).rstrip(b'=').decode()}.{b64(mac).rstrip(b'=').decode()}"

    url = f"/unsubscribe/{legacy_token('unsubscribe')}"
    assert client.get(url).status_code == 200
    assert client.post(url + "A", content=b"List-Unsubscribe=One-Click").status_code == 400
    assert reload(web_store, active).status == SubscriberStatus.ACTIVE
    response = client.post(url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200
    assert reload(web_store, active).status == SubscriberStatus.UNSUBSCRIBED
    assert client.get(f"/preferences/{legacy_token('preferences')}").status_code == 400
