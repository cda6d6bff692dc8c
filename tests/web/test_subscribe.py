"""Subscribe and confirm: double opt-in, no enumeration, limits, bad input, bad tokens."""

from __future__ import annotations

import re
import shutil
import subprocess
from email.utils import parseaddr

import httpx
import pytest
from starlette.testclient import TestClient
from storekit import add_subscriber
from webkit import SECRET, FakeClock, Outbox

from pressroom.config import Settings
from pressroom.models import Frequency, Subscriber, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscriber_writes import set_status
from pressroom.store.subscribers import find_subscriber
from pressroom.tokens import make_token


def subscriber(store: Store, email: str) -> Subscriber | None:
    with store.read() as conn:
        return find_subscriber(conn, email)


def subscribe(client: TestClient, email: str, **fields: object) -> tuple[int, str]:
    data: dict[str, object] = {"email": email, "frequency": "daily", **fields}
    response = client.post("/subscribe", data=data)  # type: ignore[arg-type]
    return response.status_code, response.text


def add(store: Store, email: str, status: SubscriberStatus, clock: FakeClock) -> Subscriber:
    with store.write() as conn:
        return add_subscriber(
            conn, email, sections=["guoji"], frequency=Frequency.WEEKLY, status=status, now=clock()
        )


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def form_token_of(page: str) -> str:
    match = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def click_confirm(client: TestClient, link: str) -> httpx.Response:
    """What a person does: open the mail's link, press the button on the page."""
    page = client.get(path_of(link))
    assert page.status_code == 200, page.text
    return client.post(path_of(link), data={"form_token": form_token_of(page.text)})


def test_subscribe_makes_pending_and_mails_a_confirm_link(
    client: TestClient, web_store: Store, outbox: Outbox
) -> None:
    status, page = subscribe(
        client, " Reader@Example.COM ", name="读者", sections=["keji", "guoji"], frequency="weekly"
    )
    assert status == 200
    assert "请查收邮件" in page
    saved = subscriber(web_store, "Reader@example.com")
    assert saved is not None
    assert saved.status == SubscriberStatus.PENDING
    assert saved.sections == ("keji", "guoji")
    assert saved.frequency == Frequency.WEEKLY
    assert saved.name == "读者"
    assert len(outbox.messages) == 1
    assert outbox.messages[0].recipient == "Reader@example.com"
    link = outbox.link()
    assert link.startswith("http://testserver/confirm/")

    page = client.get(path_of(link))  # the page: a button, no change yet
    assert page.status_code == 200 and "确认订阅" in page.text and 'method="post"' in page.text
    still = subscriber(web_store, "Reader@example.com")
    assert still is not None and still.status == SubscriberStatus.PENDING

    confirmed = client.post(path_of(link), data={"form_token": form_token_of(page.text)})
    assert confirmed.status_code == 200
    assert "订阅已确认" in confirmed.text
    assert "科技" in confirmed.text
    assert "/preferences/" in confirmed.text
    after = subscriber(web_store, "Reader@example.com")
    assert after is not None and after.status == SubscriberStatus.ACTIVE
    again = client.get(path_of(link))  # a second click is harmless
    assert again.status_code == 200 and "已经确认" in again.text
    assert len(outbox.messages) == 1


def _normalised(page: str, email: str) -> str:
    return page.replace(email, "EMAIL")


@pytest.mark.parametrize(
    "status", [SubscriberStatus.ACTIVE, SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED]
)
def test_the_answer_does_not_reveal_whether_the_address_is_known(
    client: TestClient, web_store: Store, clock: FakeClock, status: SubscriberStatus
) -> None:
    add(web_store, "known@example.com", status, clock)
    known = subscribe(client, "known@example.com")
    unknown = subscribe(client, "nobody@example.com")
    assert known[0] == unknown[0] == 200
    assert _normalised(known[1], "known@example.com") == _normalised(
        unknown[1], "nobody@example.com"
    )


def test_active_subscriber_resubscribing_is_unchanged_and_gets_a_notice(
    client: TestClient, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    before = add(web_store, "active@example.com", SubscriberStatus.ACTIVE, clock)
    clock.advance(minutes=5)
    subscribe(client, "active@example.com", name="改名", sections=["keji"])
    after = subscriber(web_store, "active@example.com")
    assert after == before
    assert len(outbox.messages) == 1
    notice = outbox.parsed()
    assert "您已订阅" in str(notice["Subject"])
    assert "/preferences/" in outbox.link()


def test_unsubscribed_address_must_confirm_again(
    client: TestClient, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    gone = add(web_store, "back@example.com", SubscriberStatus.UNSUBSCRIBED, clock)
    forged_nonce = make_token(SECRET, "confirm", gone.public_key, clock(), "A" * 16)
    assert client.get(f"/confirm/{forged_nonce}").status_code == 400  # no open request
    subscribe(client, "back@example.com", sections=["keji"])
    asked = subscriber(web_store, "back@example.com")
    # Still unsubscribed: only the owner's confirmation of this request changes that.
    assert asked is not None and asked.status == SubscriberStatus.UNSUBSCRIBED
    assert asked.id == gone.id and asked.sections == gone.sections  # until it is confirmed
    assert click_confirm(client, outbox.link()).status_code == 200
    active = subscriber(web_store, "back@example.com")
    assert active is not None and active.status == SubscriberStatus.ACTIVE
    assert active.sections == ("keji",)  # the confirmed request's choice


def test_confirm_link_expires(
    client: TestClient, web_store: Store, web_settings: Settings, clock: FakeClock, outbox: Outbox
) -> None:
    subscribe(client, "late@example.com")
    link = path_of(outbox.link())
    clock.advance(seconds=web_settings.web.confirm_max_age + 1)
    response = client.get(link)
    assert response.status_code == 400
    assert "过期" in response.text
    late = subscriber(web_store, "late@example.com")
    assert late is not None and late.status == SubscriberStatus.PENDING


def test_tampered_and_foreign_confirm_tokens_are_400_and_change_nothing(
    client: TestClient, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    subscribe(client, "victim@example.com")
    pending = subscriber(web_store, "victim@example.com")
    assert pending is not None
    good = outbox.link().rsplit("/", 1)[1]
    flipped = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    key = pending.public_key
    bad_tokens = [
        flipped,
        good + "!",
        good + "%20",
        good + "==",
        make_token("another-secret-0123456789", "confirm", key, clock(), "A" * 16),
        make_token(SECRET, "unsubscribe", key, clock()),
        make_token(SECRET, "preferences", key, clock()),
        "garbage",
        "a.b.c",
        "%E4%BD%A0.%E5%A5%BD",
        "",
    ]
    for token in bad_tokens:
        for method in ("GET", "HEAD", "POST"):
            response = client.request(method, f"/confirm/{token}", data={"form_token": "x"})
            assert response.status_code in (400, 403, 404, 405), (method, token)
    still = subscriber(web_store, "victim@example.com")
    assert still is not None and still.status == SubscriberStatus.PENDING


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": ""}, "请填写电子邮箱"),
        ({"email": "not-an-address"}, "格式不正确"),
        ({"email": "a@b"}, "格式不正确"),
        ({"email": "x" * 400 + "@example.com"}, "太长"),
        ({"email": "ok@example.com", "sections": ["nope"]}, "没有这个栏目"),
        ({"email": "ok@example.com", "frequency": "hourly"}, "每日或每周"),
        ({}, "请填写电子邮箱"),
    ],
)
def test_bad_subscribe_forms_are_400_with_the_reason(
    client: TestClient, web_store: Store, outbox: Outbox, fields: dict[str, object], problem: str
) -> None:
    response = client.post("/subscribe", data=fields)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert problem in response.text
    assert 'action="/subscribe"' in response.text  # the form again, to correct
    assert outbox.messages == []
    assert subscriber(web_store, "ok@example.com") is None


def test_form_keeps_what_was_typed_after_an_error(client: TestClient) -> None:
    response = client.post(
        "/subscribe", data={"email": "bad", "name": "<b>张三</b>", "sections": ["keji"]}
    )
    assert 'value="bad"' in response.text
    assert "&lt;b&gt;张三&lt;/b&gt;" in response.text  # escaped, never markup
    assert re.search(r'value="keji" checked', response.text)


def test_missing_frequency_means_daily(client: TestClient, web_store: Store) -> None:
    client.post("/subscribe", data={"email": "d@example.com"})
    saved = subscriber(web_store, "d@example.com")
    assert saved is not None and saved.frequency == Frequency.DAILY and saved.sections == ()


def test_honeypot_answers_as_usual_and_records_nothing(
    client: TestClient, web_store: Store, outbox: Outbox
) -> None:
    status, page = subscribe(client, "bot@example.com", website="http://spam")
    assert status == 200 and "请查收邮件" in page
    assert subscriber(web_store, "bot@example.com") is None
    assert outbox.messages == []


def test_cross_site_post_is_refused(client: TestClient, web_store: Store) -> None:
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        response = client.post("/subscribe", data={"email": "x@example.com"}, headers=headers)
        assert response.status_code == 403
    same = client.post(
        "/subscribe", data={"email": "x@example.com"}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 200
    private = client.post(  # Origin "null" under a no-referrer policy; fetch metadata decides
        "/subscribe",
        data={"email": "y@example.com"},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert private.status_code == 200
    assert subscriber(web_store, "x@example.com") is not None


@pytest.mark.slow
def test_flood_from_one_client_is_limited(
    client: TestClient, web_settings: Settings, outbox: Outbox, clock: FakeClock
) -> None:
    limit = web_settings.web.subscribe_per_minute
    codes = [subscribe(client, f"u{i}@example.com")[0] for i in range(limit + 10)]
    assert codes[:limit] == [200] * limit
    assert set(codes[limit:]) == {429}
    limited = client.post("/subscribe", data={"email": "z@example.com"})
    assert int(limited.headers["retry-after"]) >= 1
    assert len(outbox.messages) == limit


def test_one_address_gets_at_most_three_mails_an_hour(
    client: TestClient, outbox: Outbox, web_settings: Settings
) -> None:
    for i in range(5):
        response = client.post("/subscribe", data={"email": "target@example.com", "name": str(i)})
        assert response.status_code == 200
    assert [m.recipient for m in outbox.messages] == ["target@example.com"] * 3


def test_oversized_and_non_form_bodies_are_refused(client: TestClient, outbox: Outbox) -> None:
    big = client.post("/subscribe", data={"email": "a@example.com", "name": "x" * 100_000})
    assert big.status_code == 413
    multipart = client.post(
        "/subscribe",
        content=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert multipart.status_code == 400
    assert outbox.messages == []


def test_confirm_mail_is_well_formed(client: TestClient, outbox: Outbox) -> None:
    subscribe(client, "mail@example.com", name="王五\r\nBcc: evil@example.com")
    raw = outbox.messages[0].data
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = outbox.parsed()
    assert msg["Bcc"] is None
    assert msg.get_content_type() == "multipart/alternative"
    assert parseaddr(str(msg["From"])) == ("测试新闻", "news@example.com")
    assert msg["To"] == "mail@example.com"
    assert str(msg["Subject"]) == "请确认订阅测试新闻要闻邮件"
    assert msg["Date"] and msg["Message-ID"] == outbox.messages[0].message_id
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    assert html is not None and text is not None
    link = outbox.link()
    assert link in html.get_content() and link in text.get_content()
    # The visitor's name never reaches the mail: it greets the address's local part.
    assert "王五" not in text.get_content() and "王五" not in html.get_content()
    assert "evil" not in raw.decode("ascii", "replace")
    assert text.get_content().startswith("mail，您好")


def test_unknown_subscriber_in_a_valid_token_is_400(client: TestClient, clock: FakeClock) -> None:
    token = make_token(SECRET, "confirm", "Z" * 16, clock(), "A" * 16)
    assert client.get(f"/confirm/{token}").status_code == 400
    assert client.post(f"/confirm/{token}").status_code in (400, 403)


def test_bounced_address_resubscribing_must_confirm(
    client: TestClient, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    sub = add(web_store, "bounce@example.com", SubscriberStatus.ACTIVE, clock)
    with web_store.write() as conn:
        set_status(conn, sub.id, SubscriberStatus.BOUNCED, clock())
    subscribe(client, "bounce@example.com")
    saved = subscriber(web_store, "bounce@example.com")
    assert saved is not None and saved.status == SubscriberStatus.BOUNCED
    assert "confirm/" in outbox.link()
    assert click_confirm(client, outbox.link()).status_code == 200
    back = subscriber(web_store, "bounce@example.com")
    assert back is not None and back.status == SubscriberStatus.ACTIVE


SPAMASSASSIN = shutil.which("spamassassin")


@pytest.mark.external
@pytest.mark.slow
@pytest.mark.skipif(SPAMASSASSIN is None, reason="needs spamassassin (Debian spamassassin)")
def test_confirmation_mail_scores_low_in_spamassassin(client: TestClient, outbox: Outbox) -> None:
    subscribe(client, "reader@example.com", name="读者")
    result = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t"],
        input=outbox.messages[0].data,
        capture_output=True,
        timeout=120,
    )
    report = result.stdout.decode("utf-8", "replace")
    match = re.search(r"X-Spam-Status: \w+, score=(-?[\d.]+)", report)
    assert match, report[-2000:]
    assert float(match.group(1)) < 1.0, report[-2000:]
