"""Confirm in two steps, consent events from the web, and addresses at the subscribe form.

``GET``/``HEAD /confirm/<token>`` show a button and change nothing (mail scanners fetch
links); only the page's ``POST`` confirms, and only the newest open request's link works.
"""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient
from storekit import add_subscriber
from webkit import SECRET, FakeClock, Outbox

from pressroom.config import Settings
from pressroom.models import ConsentSource, Subscriber, SubscriberStatus
from pressroom.store.engine import Store
from pressroom.store.subscribers import list_subscribers
from pressroom.subscribers.lifecycle import subscriber_history
from pressroom.tokens import make_token
from pressroom.web import create_app

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def status_of(store: Store, email: str) -> SubscriberStatus:
    with store.read() as conn:
        found = subscriber_history(conn, email)
    assert found is not None
    return found[0].status


def events(store: Store, email: str) -> list[tuple[object, ...]]:
    with store.read() as conn:
        found = subscriber_history(conn, email)
    assert found is not None
    return [(e.from_status, e.to_status, e.source, e.ip) for e in found[1]]


def form_token_of(page: str) -> str:
    match = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def subscribe(client: TestClient, email: str) -> None:
    response = client.post("/subscribe", data={"email": email})
    assert response.status_code == 200, response.text


def test_get_and_head_change_nothing_however_often(
    client: TestClient, web_store: Store, outbox: Outbox
) -> None:
    subscribe(client, "scan@example.com")
    link = path_of(outbox.link())
    for _ in range(3):
        assert client.head(link).status_code == 200
        page = client.get(link)
        assert page.status_code == 200
        assert f'action="{link}"' in page.text and 'method="post"' in page.text
    assert status_of(web_store, "scan@example.com") is SubscriberStatus.PENDING
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ("valid", {"Origin": "https://evil.example"}),
        ("valid", {"Sec-Fetch-Site": "cross-site"}),
    ],
)
def test_a_post_from_another_site_is_refused(
    client: TestClient,
    web_store: Store,
    outbox: Outbox,
    data: dict[str, str] | str,
    headers: dict[str, str],
) -> None:
    subscribe(client, "csrf@example.com")
    link = path_of(outbox.link())
    if data == "valid":
        data = {"form_token": form_token_of(client.get(link).text)}
    response = client.post(link, data=data, headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 403
    assert status_of(web_store, "csrf@example.com") is SubscriberStatus.PENDING


def test_a_bare_post_of_the_link_confirms(
    client: TestClient, web_store: Store, outbox: Outbox
) -> None:
    """The link's token is the secret: a POST of it confirms without the page's form token."""
    subscribe(client, "bare@example.com")
    response = client.post(path_of(outbox.link()))
    assert response.status_code == 200
    assert status_of(web_store, "bare@example.com") is SubscriberStatus.ACTIVE


def confirm(client: TestClient, link: str) -> int:
    page = client.get(link)
    if page.status_code != 200 or "form_token" not in page.text:
        return page.status_code
    posted = client.post(link, data={"form_token": form_token_of(page.text)})
    return posted.status_code


def test_confirming_records_the_ip_and_old_links_die(
    client: TestClient, web_store: Store, outbox: Outbox, clock: FakeClock
) -> None:
    subscribe(client, "cycle@example.com")
    first = path_of(outbox.link())
    subscribe(client, "Cycle@example.com")  # anyone's second submission: the same request
    second = path_of(outbox.link())
    assert client.get(first).status_code == 200  # the owner's first link still works
    assert confirm(client, second) == 200
    assert status_of(web_store, "cycle@example.com") is SubscriberStatus.ACTIVE

    with web_store.read() as conn:
        found = subscriber_history(conn, "cycle@example.com")
    assert found is not None
    unsubscribe = make_token(SECRET, "unsubscribe", found[0].public_key, clock())
    one_click = client.post(
        f"/unsubscribe/{unsubscribe}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
    )
    assert one_click.status_code == 200
    subscribe(client, "cycle@example.com")  # someone submits the address again
    third = path_of(outbox.link())
    for old in (first, second):  # neither older link revives the address
        assert confirm(client, old) in (200, 400)
        assert status_of(web_store, "cycle@example.com") is SubscriberStatus.UNSUBSCRIBED
    assert confirm(client, third) == 200
    assert status_of(web_store, "cycle@example.com") is SubscriberStatus.ACTIVE
    assert events(web_store, "cycle@example.com") == [
        (None, SubscriberStatus.PENDING, ConsentSource.WEB, "192.0.2.10"),
        (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE, ConsentSource.WEB, "192.0.2.10"),
        (
            SubscriberStatus.ACTIVE,
            SubscriberStatus.UNSUBSCRIBED,
            ConsentSource.ONE_CLICK,
            "192.0.2.10",
        ),
        (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.ACTIVE, ConsentSource.WEB, "192.0.2.10"),
    ]


def test_a_complained_address_gets_no_mail_from_the_form(
    client: TestClient, web_store: Store, clock: FakeClock, outbox: Outbox
) -> None:
    with web_store.write() as conn:
        add_subscriber(conn, "angry@example.com", status=SubscriberStatus.COMPLAINED, now=clock())
    unknown = client.post("/subscribe", data={"email": "new@example.com"})
    complained = client.post("/subscribe", data={"email": "angry@example.com"})
    assert complained.status_code == unknown.status_code == 200
    assert complained.text == unknown.text.replace("new@example.com", "angry@example.com")
    assert [m.recipient for m in outbox.messages] == ["new@example.com"]
    assert status_of(web_store, "angry@example.com") is SubscriberStatus.COMPLAINED


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED])
def test_a_suppressed_address_stays_so_until_its_owner_confirms(
    client: TestClient, web_store: Store, clock: FakeClock, outbox: Outbox, status: SubscriberStatus
) -> None:
    with web_store.write() as conn:
        add_subscriber(conn, "no@example.com", status=status, now=clock())
    subscribe(client, "NO@example.com")
    assert status_of(web_store, "no@example.com") is status
    link = path_of(outbox.link())
    client.get(link)
    client.head(link)
    assert status_of(web_store, "no@example.com") is status
    assert confirm(client, link) == 200
    assert status_of(web_store, "no@example.com") is SubscriberStatus.ACTIVE


def test_the_page_button_unsubscribe_is_a_web_event(
    client: TestClient, web_store: Store, clock: FakeClock
) -> None:
    with web_store.write() as conn:
        active: Subscriber = add_subscriber(conn, "btn@example.com", now=clock())
    token = make_token(SECRET, "unsubscribe", active.public_key, clock())
    assert client.post(f"/unsubscribe/{token}", data={}).status_code == 200
    assert events(web_store, "btn@example.com") == [
        (SubscriberStatus.ACTIVE, SubscriberStatus.UNSUBSCRIBED, ConsentSource.WEB, "192.0.2.10")
    ]


# ------------------------------------------------------------------ addresses at the form


def stored(store: Store) -> list[str]:
    with store.read() as conn:
        return [s.email for s in list_subscribers(conn)]


@pytest.mark.parametrize(
    "body",
    [
        b"email=%FF%FE@example.com",  # invalid UTF-8, percent-escaped
        b"email=\xff\xfe@example.com",  # invalid UTF-8, raw
        b"email=a%40example.com&name=%ED%A0%80",  # a UTF-8-encoded lone surrogate
        b"email=a%C0%AE@example.com",  # an overlong encoding
    ],
)
def test_a_body_with_invalid_utf8_is_refused_in_one_sentence(
    client: TestClient, web_store: Store, outbox: Outbox, body: bytes
) -> None:
    response = client.post("/subscribe", content=body, headers=FORM)
    assert response.status_code == 400
    assert "UTF-8" in response.text and "\ufffd" not in response.text
    assert stored(web_store) == [] and outbox.messages == []


def test_a_multipart_body_with_invalid_utf8_is_refused(
    client: TestClient, web_store: Store
) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n\xff@example.com\r\n--b--\r\n'
    )
    response = client.post(
        "/subscribe", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 400 and "UTF-8" in response.text
    assert stored(web_store) == []


@pytest.mark.parametrize(
    "email",
    [
        "a" * 65 + "@example.com",  # RFC 5321: 64 octets at most
        "é" * 33 + "@example.com",  # 66 octets in UTF-8
        "jörg@example.com",  # non-ASCII local part: no SMTPUTF8 yet
        "用户@example.com",
    ],
)
def test_undeliverable_addresses_are_refused_at_subscribe(
    client: TestClient, web_store: Store, outbox: Outbox, email: str
) -> None:
    response = client.post("/subscribe", data={"email": email})
    assert response.status_code == 400 and "格式不正确" in response.text
    assert stored(web_store) == [] and outbox.messages == []


def test_64_octets_and_idn_domains_are_accepted(
    client: TestClient, web_store: Store, outbox: Outbox
) -> None:
    subscribe(client, "a" * 64 + "@example.com")
    subscribe(client, "reader@bücher.de")
    assert sorted(stored(web_store)) == ["a" * 64 + "@example.com", "reader@xn--bcher-kva.de"]
    assert outbox.messages[-1].recipient == "reader@xn--bcher-kva.de"


def test_one_subscriber_per_mailbox_whatever_the_case(
    client: TestClient, web_store: Store, outbox: Outbox
) -> None:
    subscribe(client, "Mixed@Example.org")
    subscribe(client, "mixed@example.org")
    subscribe(client, "MIXED@EXAMPLE.ORG")
    assert stored(web_store) == ["Mixed@example.org"]  # as first written
    assert {m.recipient for m in outbox.messages} == {"Mixed@example.org"}


@pytest.mark.parametrize(
    ("client_host", "recorded"),
    [
        ("not-an-address", None),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_consent_ip_is_recorded_only_when_it_is_an_address(
    web_settings: Settings,
    web_store: Store,
    clock: FakeClock,
    client_host: str,
    recorded: str | None,
) -> None:
    """A proxy's garbage X-Forwarded-For is no evidence of who consented."""
    outbox = Outbox()
    app = create_app(web_settings, web_store, clock, send=outbox.send)
    with TestClient(app, client=(client_host, 1234)) as odd:
        assert odd.post("/subscribe", data={"email": "xff@example.com"}).status_code == 200
    assert [e[3] for e in events(web_store, "xff@example.com")] == [recorded]
