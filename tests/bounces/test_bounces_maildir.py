"""Bounce processing over a Maildir: every kind of inbound message, on both stores.

Each sample of ``mail/`` is addressed to one subscriber's signed VERP address (as the
relay would deliver it) and goes through the same path as ``pressroom bounces process``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bouncekit import MAIL, Site, events, make_maildir, make_site_settings, statuses
from digestkit import parse_message
from sqlalchemy import select, update
from starlette.testclient import TestClient
from storekit import add_subscriber
from support import NOW, SECRET, FakeClock

from pressroom.bounces.process import process_bounces
from pressroom.models import BounceKind, ConsentSource, Subscriber, SubscriberStatus
from pressroom.store.bounces import BounceEvent, record_event
from pressroom.store.consent import consent_history
from pressroom.store.engine import Store
from pressroom.store.schema import bounce_events
from pressroom.store.store_time import db_now
from pressroom.subscribers.lifecycle import suppress
from pressroom.tokens import read_token
from pressroom.web import create_app

ACTIVE = SubscriberStatus.ACTIVE


def _people(store: Store, *names: str) -> dict[str, Subscriber]:
    with store.write() as conn:
        return {n: add_subscriber(conn, f"{n}@example.org") for n in names}


def _tamper(address: str) -> str:
    local, domain = address.split("@")
    flipped = "b" if local[-1] == "a" else "a"
    return f"{local[:-1]}{flipped}@{domain}"


def _swap_ids(victim: str, other: str) -> str:
    """The victim's enciphered ids with another delivery's valid signature."""
    ids = victim.split("+")[1].split(".")[0]
    head, _, rest = other.partition("+")
    return f"{head}+{ids}.{rest.split('.', 1)[1]}"


def _run(site: Site, store: Store, clock: FakeClock | None = None):  # type: ignore[no-untyped-def]
    return process_bounces(site.config, store, clock or FakeClock())


def _site(tmp_path: Path, **bounces: object) -> Site:
    maildir = make_maildir(tmp_path / "Maildir")
    return Site(maildir, make_site_settings(tmp_path, f"maildir:{maildir}", **bounces))


def _gave_up(site: Site, rcpt: str, bounce: str, message_id: str | None = None) -> Path:
    """A DSN whose MTA gave up with a temporary status (``Action: failed``, 4.2.2)."""
    path = site.drop("dsn_soft.eml", rcpt=rcpt, bounce=bounce, message_id=message_id)
    path.write_bytes(path.read_bytes().replace(b"Action: delayed", b"Action: failed"))
    return path


def test_each_kind_does_what_it_should(site: Site, store: Store) -> None:
    people = _people(store, "gone", "angry", "leaver", "away", "full", "bystander")
    site.drop(
        "dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(people["gone"].id)
    )
    site.drop("arf_complaint.eml", rcpt="angry@example.org",
              bounce=site.bounce_address(people["angry"].id))  # fmt: skip
    site.drop("mailto_unsubscribe.eml", rcpt="leaver@example.org",
              unsubscribe=site.unsubscribe_address(people["leaver"].id))  # fmt: skip
    site.drop(
        "vacation.eml", rcpt="away@example.org", bounce=site.bounce_address(people["away"].id)
    )
    site.drop(
        "dsn_soft.eml", rcpt="full@example.org", bounce=site.bounce_address(people["full"].id)
    )

    report = _run(site, store)

    assert statuses(store) == {
        "gone@example.org": SubscriberStatus.BOUNCED,
        "angry@example.org": SubscriberStatus.COMPLAINED,
        "leaver@example.org": SubscriberStatus.UNSUBSCRIBED,
        "away@example.org": ACTIVE,
        "full@example.org": ACTIVE,  # a delay warning: never counted
        "bystander@example.org": ACTIVE,
    }
    assert dict(report.kinds) == {
        BounceKind.HARD: 1, BounceKind.COMPLAINT: 1, BounceKind.UNSUBSCRIBE: 1,
        BounceKind.AUTO_REPLY: 1, BounceKind.SOFT: 1,
    }  # fmt: skip
    assert dict(report.actions) == {"bounced": 1, "complained": 1, "unsubscribed": 1}
    assert "still being retried" in events(store, BounceKind.SOFT)[0].event.note
    with store.read() as conn:
        sources = {n: [e.source for e in consent_history(conn, s.id)] for n, s in people.items()}
    assert sources["gone"] == [ConsentSource.BOUNCE]
    assert sources["angry"] == [ConsentSource.COMPLAINT]
    assert sources["leaver"] == [ConsentSource.MAILTO]
    assert sources["away"] == sources["full"] == sources["bystander"] == []
    hard = events(store, BounceKind.HARD)[0].event
    assert (hard.status_code, hard.digest_id, hard.subscriber_id) == ("5.1.1", 7, people["gone"].id)
    assert "User unknown" in hard.diagnostic
    # every message left the inbox for 'processed', flagged and seen
    assert not list((site.maildir / "new").iterdir())
    moved = sorted(p.name for p in (site.maildir / ".processed" / "cur").iterdir())
    assert len(moved) == 5 and all(name.endswith(":2,FS") for name in moved)


@pytest.mark.parametrize("sample", ["exchange.eml", "gmail.eml", "qmail.eml"])
def test_nonstandard_bounces_are_hard(site: Site, store: Store, sample: str) -> None:
    people = _people(store, "gone", "other")
    site.drop(sample, rcpt="gone@example.org", bounce=site.bounce_address(people["gone"].id))
    report = _run(site, store)
    assert dict(report.kinds) == {BounceKind.HARD: 1}
    assert statuses(store)["gone@example.org"] is SubscriberStatus.BOUNCED
    assert statuses(store)["other@example.org"] is ACTIVE


@pytest.mark.parametrize(
    "sample", ["exchange.eml", "gmail.eml", "qmail.eml", "dsn_hard.eml", "arf_complaint.eml"]
)
def test_a_forged_token_less_report_changes_nobody_by_default(
    site: Site, store: Store, sample: str
) -> None:
    _people(store, "victim")
    site.drop(sample, rcpt="victim@example.org")  # anyone can mail this to the bounce address
    site.drop("dsn_soft.eml", rcpt="victim@example.org")
    _run(site, store)
    assert statuses(store) == {"victim@example.org": ACTIVE}
    assert all(row.event.subscriber_id is None for row in events(store))


@pytest.mark.parametrize("sample", ["exchange.eml", "gmail.eml", "qmail.eml", "dsn_hard.eml"])
def test_with_address_fallback_the_reported_address_is_used(
    tmp_path: Path, store: Store, sample: str
) -> None:
    site = _site(tmp_path, address_fallback=True)
    _people(store, "gone", "other")
    site.drop(sample, rcpt="gone@example.org")  # delivered to plain bounces@mail.test
    _run(site, store)
    assert statuses(store) == {"gone@example.org": SubscriberStatus.BOUNCED,
                               "other@example.org": ACTIVE}  # fmt: skip
    assert "found by the reported address" in events(store)[0].event.note


@pytest.mark.parametrize(
    "forge",
    [
        lambda site, sid: site.bounce_address(sid, secret="another-secret-0123456789"),
        lambda site, sid: _swap_ids(site.bounce_address(sid), site.bounce_address(sid + 1)),
        lambda site, sid: _tamper(site.bounce_address(sid)),
        lambda site, sid: "bounces+d7.1.notatoken@mail.test",
    ],
    ids=["other-secret", "swapped-id", "tampered-signature", "malformed"],
)
def test_a_forged_token_changes_nothing(site: Site, store: Store, forge) -> None:  # type: ignore[no-untyped-def]
    people = _people(store, "victim", "victim2")
    victim = people["victim"].id
    address = forge(site, victim)
    site.drop("dsn_hard.eml", rcpt="victim@example.org", bounce=address)
    site.drop("arf_complaint.eml", rcpt="victim@example.org", bounce=address,
              unsubscribe=address.replace("bounces+", "unsubscribe+"))  # fmt: skip
    site.drop("mailto_unsubscribe.eml", rcpt="victim@example.org",
              unsubscribe=address.replace("bounces+", "unsubscribe+"))  # fmt: skip
    report = _run(site, store)
    assert set(statuses(store).values()) == {ACTIVE}
    assert dict(report.kinds) == {BounceKind.UNKNOWN: 3}
    assert all(row.event.note.startswith("refused") for row in events(store))
    assert all(row.event.subscriber_id is None for row in events(store))


def _outbox(site: Site) -> list[EmailMessage]:
    folder = site.settings.path(site.settings.mail.outbox)
    found = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [parse_message(path.read_bytes()) for path in found]


def test_a_mailto_unsubscribe_without_token_mails_the_address_its_link(
    site: Site, store: Store
) -> None:
    """Nothing changes by the request itself (anyone can write it); the subscriber's own
    address gets one mail a day with its own signed unsubscribe link (nobody else gets one),
    whose one click unsubscribes it."""
    people = _people(store, "leaver", "gone")
    with store.write() as conn:
        suppress(conn, people["gone"].id, SubscriberStatus.UNSUBSCRIBED,
                 source=ConsentSource.WEB, now=NOW)  # fmt: skip
    site.drop("mailto_unsubscribe.eml", rcpt="leaver@example.org")
    again = site.drop("mailto_unsubscribe.eml", rcpt="leaver@example.org")  # the same day
    again.write_bytes(again.read_bytes() + b"please\r\n")  # not a copy of the first
    site.drop("mailto_unsubscribe.eml", rcpt="stranger@example.org")  # nobody's address
    site.drop("mailto_unsubscribe.eml", rcpt="gone@example.org")  # already unsubscribed
    report = _run(site, store)
    assert dict(report.kinds) == {BounceKind.UNSUBSCRIBE: 4}
    assert statuses(store)["leaver@example.org"] is ACTIVE
    mails = _outbox(site)
    assert [str(m["To"]) for m in mails] == ["leaver@example.org"]
    assert mails[0]["Auto-Submitted"] == "auto-replied"
    html = mails[0].get_body(("html",)).get_content()
    link = re.search(r'href="(https?://[^"]+/unsubscribe/([^"]+))"', html)
    assert link is not None and link[1] in mails[0].get_body(("plain",)).get_content()
    token = read_token(SECRET, link[2], "unsubscribe", datetime.now(UTC))
    assert token.public_key == people["leaver"].public_key
    assert [e.event.action for e in events(store)].count("link mailed") == 1

    with store.write() as conn:  # a day later by the store's clock, another request
        rows = conn.execute(select(bounce_events.c.message_key, bounce_events.c.received_at))
        for key, received in rows.all():
            conn.execute(update(bounce_events).where(bounce_events.c.message_key == key)
                         .values(received_at=received - timedelta(days=1, minutes=1)))  # fmt: skip
    later = site.drop("mailto_unsubscribe.eml", rcpt="leaver@example.org")
    later.write_bytes(later.read_bytes() + b"again\r\n")
    _run(site, store)
    assert len(_outbox(site)) == 2 and statuses(store)["leaver@example.org"] is ACTIVE

    with TestClient(create_app(site.settings, store), client=("192.0.2.7", 50000)) as web:
        page = web.post(urlsplit(link[1]).path, content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert page.status_code == 200  # the owner's one click
    assert statuses(store)["leaver@example.org"] is SubscriberStatus.UNSUBSCRIBED


def test_processing_twice_changes_nothing(site: Site, store: Store) -> None:
    people = _people(store, "gone", "full")
    sent = [
        site.drop("dsn_hard.eml", rcpt="gone@example.org",
                  bounce=site.bounce_address(people["gone"].id), message_id="hard-1@x"),
        site.drop("dsn_soft.eml", rcpt="full@example.org",
                  bounce=site.bounce_address(people["full"].id), message_id="soft-1@x"),
    ]  # fmt: skip
    copies = {path.name: path.read_bytes() for path in sent}
    first = _run(site, store)
    before = (statuses(store), [r.event for r in events(store)])
    for name, data in copies.items():  # the same messages arrive again
        (site.maildir / "new" / f"again-{name}").write_bytes(data)
    second = _run(site, store)
    assert (statuses(store), [r.event for r in events(store)]) == before
    assert (first.read, first.duplicates, second.read, second.duplicates) == (2, 0, 2, 2)
    assert second.summary().startswith("2 messages") and "changed: nothing" in second.summary()


def _counted_earlier(store: Store, subscriber_id: int, *ages: timedelta) -> None:
    """Soft bounces counted for ``subscriber_id`` that arrived ``ages`` ago (store's clock)."""
    with store.write() as conn:
        now = db_now(conn)
        for age in ages:
            record_event(conn, BounceEvent(
                message_key=f"earlier-{subscriber_id}-{age}", message_id="", received_at=now - age,
                processed_at=now - age, kind=BounceKind.SOFT, subscriber_id=subscriber_id,
                action="counted",
            ))  # fmt: skip


def test_soft_bounces_mark_bounced_at_the_limit_within_the_window(site: Site, store: Store) -> None:
    people = _people(store, "full", "other")
    _counted_earlier(store, people["other"].id, timedelta(days=3))
    _gave_up(site, "other@example.org", site.bounce_address(people["other"].id))
    assert dict(_run(site, store).actions) == {"counted": 1}  # 2 of 3
    assert statuses(store)["other@example.org"] is ACTIVE
    _counted_earlier(store, people["full"].id, timedelta(days=3), timedelta(days=2))
    _gave_up(site, "full@example.org", site.bounce_address(people["full"].id))
    report = _run(site, store)
    assert dict(report.actions) == {"bounced": 1}
    assert statuses(store)["full@example.org"] is SubscriberStatus.BOUNCED


def test_soft_bounces_count_at_most_once_a_day(site: Site, store: Store) -> None:
    people = _people(store, "full")
    address = site.bounce_address(people["full"].id)
    for _ in range(5):
        _gave_up(site, "full@example.org", address)
    report = _run(site, store)
    assert dict(report.actions) == {"counted": 1} and dict(report.kinds) == {BounceKind.SOFT: 5}
    assert statuses(store)["full@example.org"] is ACTIVE
    assert sum("counted for this address in the last day" in r.event.note
               for r in events(store)) == 4  # fmt: skip


def test_delay_warnings_never_count(site: Site, store: Store) -> None:
    people = _people(store, "full")
    address = site.bounce_address(people["full"].id)
    _counted_earlier(store, people["full"].id, timedelta(days=3), timedelta(days=2))
    for _ in range(3):  # with a valid token: the MTA is still retrying
        site.drop("dsn_soft.eml", rcpt="full@example.org", bounce=address)
    report = _run(site, store)
    assert dict(report.kinds) == {BounceKind.SOFT: 3} and not report.actions
    assert statuses(store)["full@example.org"] is ACTIVE


def test_soft_bounces_outside_the_window_do_not_count(tmp_path: Path, store: Store) -> None:
    site = _site(tmp_path, soft_limit=2, soft_window="1d")
    people = _people(store, "full")
    _counted_earlier(store, people["full"].id, timedelta(days=1, hours=1))
    _gave_up(site, "full@example.org", site.bounce_address(people["full"].id))
    report = _run(site, store)
    assert dict(report.actions) == {"counted": 1}
    assert statuses(store)["full@example.org"] is ACTIVE


def test_a_backdated_report_is_dated_by_its_arrival(site: Site, store: Store) -> None:
    people = _people(store, "full")
    path = _gave_up(site, "full@example.org", site.bounce_address(people["full"].id))
    path.write_bytes(path.read_bytes().replace(b"29 Nov 2026", b"29 Nov 1999"))
    _run(site, store)
    with store.read() as conn:
        now = db_now(conn)
    assert abs(events(store)[0].event.received_at - now) < timedelta(minutes=1)


def test_an_unparseable_message_goes_to_failed(site: Site, store: Store) -> None:
    _people(store, "gone")
    site.drop("unparseable.eml", rcpt="x")
    (site.maildir / "new" / "empty.test").write_bytes(b"")
    report = _run(site, store)
    assert len(report.failed) == 2 and report.read == 2
    assert len(list((site.maildir / ".failed" / "cur").iterdir())) == 2
    assert not list((site.maildir / "new").iterdir())
    assert events(store) == []
    again = _run(site, store)  # never looped on
    assert again.read == 0


def test_a_bounced_confirmation_mail_marks_its_address(site: Site, store: Store) -> None:
    people = _people(store, "typo")
    address = site.bounce_address(people["typo"].id, digest_id=None)
    site.drop("dsn_hard.eml", rcpt="typo@example.org", bounce=address)
    _run(site, store)
    assert statuses(store)["typo@example.org"] is SubscriberStatus.BOUNCED
    assert events(store)[0].event.digest_id is None


def test_reports_that_are_not_failures_change_nothing(site: Site, store: Store) -> None:
    people = _people(store, "fine", "reader")
    relayed = (MAIL / "dsn_hard.eml").read_text().replace("Action: failed", "Action: relayed")
    (site.maildir.parent / "relayed.eml").write_text(relayed)
    other_type = (
        (MAIL / "arf_complaint.eml")
        .read_text()
        .replace("Feedback-Type: abuse", "Feedback-Type: not-spam")
    )
    for name, text, who in (("relayed", relayed, "fine"), ("not-spam", other_type, "reader")):
        path = site.maildir / "new" / f"{name}.test"
        path.write_text(
            text.replace("@@BOUNCE@@", site.bounce_address(people[who].id))
            .replace("@@RCPT@@", f"{who}@example.org")
            .replace("@@UNSUB@@", "unsubscribe@mail.test")
            .replace("@@MSGID@@", f"{name}@x")
        )
    report = _run(site, store)
    assert dict(report.kinds) == {BounceKind.UNKNOWN: 2}
    assert set(statuses(store).values()) == {ACTIVE}
    notes = sorted(row.event.note for row in events(store))
    assert notes == ["delivery report with action 'relayed'", "feedback report of type 'not-spam'"]


def test_a_dsn_naming_several_recipients_uses_the_failed_one(tmp_path: Path, store: Store) -> None:
    site = _site(tmp_path, address_fallback=True)
    _people(store, "gone")
    text = (
        (MAIL / "dsn_hard.eml")
        .read_text()
        .replace(
            "Reporting-MTA: dns; mx.gone.example\n\n",
            "Final-Recipient: rfc822; other@example.org\nAction: delivered\nStatus: 2.0.0\n\n",
        )
    )
    (site.maildir / "new" / "multi.test").write_text(
        text.replace("@@BOUNCE@@", "bounces@mail.test")
        .replace("@@RCPT@@", "gone@example.org")
        .replace("@@MSGID@@", "multi@x")
    )
    _run(site, store)
    assert statuses(store)["gone@example.org"] is SubscriberStatus.BOUNCED
    assert events(store)[0].event.recipient == "gone@example.org"


def test_a_complaint_is_traced_through_the_quoted_original(site: Site, store: Store) -> None:
    people = _people(store, "angry")
    text = (
        (MAIL / "arf_complaint.eml")
        .read_text()
        .replace("Delivered-To: @@BOUNCE@@", "Delivered-To: fbl@mail.test")
        .replace("\nTo: @@BOUNCE@@", "\nTo: fbl@mail.test")
        .replace("<@@RCPT@@>", "<redacted@isp.example>")  # providers often redact it
    )
    (site.maildir / "new" / "arf.test").write_text(
        text.replace("@@BOUNCE@@", site.bounce_address(people["angry"].id))
        .replace("@@UNSUB@@", "unsubscribe@mail.test")
        .replace("@@RCPT@@", "angry@example.org")
    )
    _run(site, store)
    assert statuses(store)["angry@example.org"] is SubscriberStatus.COMPLAINED


@pytest.mark.parametrize("secret", ["", "another-secret-0123456789"], ids=["ours", "forged"])
def test_a_complaint_is_traced_through_the_quoted_message_id_alone(
    site: Site, store: Store, secret: str
) -> None:
    """Our Message-ID starts with the delivery's bounce token: a report that keeps only the
    Message-ID of the original is traced, and a Message-ID forged without the secret is not."""
    people = _people(store, "angry")
    token = site.bounce_address(people["angry"].id, secret=secret).split("+")[1].split("@")[0]
    text = (
        (MAIL / "arf_complaint.eml")
        .read_text()
        .replace("Return-Path: <@@BOUNCE@@>", "Return-Path: <bounces@mail.test>")
        .replace("<7.3.daily.2026-11-29@mail.test>", f"<{token}.daily.2026-11-29@mail.test>")
        .replace("<mailto:@@UNSUB@@?subject=unsubscribe>", "<mailto:unsubscribe@mail.test>")
        .replace("@@BOUNCE@@", "bounces@mail.test")
        .replace("@@RCPT@@", "angry@example.org")
    )
    (site.maildir / "new" / "arf.test").write_text(text)
    _run(site, store)
    traced = SubscriberStatus.ACTIVE if secret else SubscriberStatus.COMPLAINED
    assert statuses(store)["angry@example.org"] is traced
    assert events(store)[0].event.subscriber_id == (None if secret else people["angry"].id)


def test_a_crash_between_commit_and_move_is_healed_by_the_next_run(
    site: Site, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressroom.bounces.mailbox import Maildir

    people = _people(store, "gone")
    site.drop(
        "dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(people["gone"].id)
    )
    real_move = Maildir.move

    def crash(self: Maildir, key: str, folder: str, *, flag: bool) -> None:
        raise OSError("killed before the move")

    monkeypatch.setattr(Maildir, "move", crash)
    with pytest.raises(OSError):
        _run(site, store)
    assert statuses(store)["gone@example.org"] is SubscriberStatus.BOUNCED  # committed
    assert len(list((site.maildir / "new").iterdir())) == 1  # but not moved
    monkeypatch.setattr(Maildir, "move", real_move)
    again = _run(site, store)
    assert (again.read, again.duplicates) == (1, 1)
    assert len(events(store)) == 1 and not list((site.maildir / "new").iterdir())


def test_without_address_fallback_only_tokens_count(site: Site, store: Store) -> None:
    people = _people(store, "victim", "gone")
    site.drop("dsn_hard.eml", rcpt="victim@example.org")  # no token: anyone can write this
    site.drop(
        "dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(people["gone"].id)
    )
    _run(site, store)
    assert statuses(store) == {"victim@example.org": ACTIVE,
                               "gone@example.org": SubscriberStatus.BOUNCED}  # fmt: skip
    assert "address_fallback is off" in events(store, BounceKind.HARD)[-1].event.note


@pytest.mark.parametrize("sample", ["dsn_hard.eml", "arf_complaint.eml"])
def test_an_unsubscribe_token_on_a_report_counts_for_nothing(
    site: Site, store: Store, sample: str
) -> None:
    people = _people(store, "victim")
    # a valid unsubscribe token (any recipient of a digest holds one), where a bounce
    # token belongs: delivered to the unsubscribe address, and in the quoted original
    token_address = site.unsubscribe_address(people["victim"].id)
    site.drop(sample, rcpt="victim@example.org", bounce=token_address, unsubscribe=token_address)
    _run(site, store)
    assert statuses(store) == {"victim@example.org": ACTIVE}
    assert events(store)[0].event.subscriber_id is None


def test_a_complaint_needs_the_token_of_the_returned_original(site: Site, store: Store) -> None:
    people = _people(store, "victim")
    text = (MAIL / "arf_complaint.eml").read_text()
    original = text.index("Content-Type: message/rfc822")
    forged = text[:original] + text[original:].replace("@@BOUNCE@@", "bounces@mail.test")
    (site.maildir / "new" / "arf.test").write_text(  # the envelope has a valid token
        forged.replace("@@BOUNCE@@", site.bounce_address(people["victim"].id))
        .replace("@@UNSUB@@", "unsubscribe@mail.test")
        .replace("@@RCPT@@", "victim@example.org")
    )
    _run(site, store)
    assert statuses(store) == {"victim@example.org": ACTIVE}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: Undelivered", b"Subject: \x00Undelivered"),
        (b"Message-ID: <", b"Message-ID: <\x00"),
        (b"Diagnostic-Code: smtp;", b"Diagnostic-Code: \x00smtp;"),
        (b"Message-ID: <", b"Message-ID: <\x1b[2J"),
        (b"Diagnostic-Code: smtp;", b"Diagnostic-Code: \x1b]8;;https://evil\x07smtp;"),
    ],
    ids=["nul-subject", "nul-message-id", "nul-diagnostic", "esc-message-id", "osc-diagnostic"],
)
def test_a_hostile_message_is_set_aside_and_the_run_goes_on(
    tmp_path: Path, store: Store, old: bytes, new: bytes
) -> None:
    site = _site(tmp_path, address_fallback=True)  # the recipient reaches the store too
    people = _people(store, "gone", "victim")
    hostile = site.drop("dsn_hard.eml", rcpt="victim@example.org")
    data = hostile.read_bytes()
    if old.startswith(b"Subject"):  # an unknown message stores its subject
        data = data.replace(b"multipart/report", b"text/plain").replace(b"Subject:", old, 1)
        data = data.replace(b"Auto-Submitted:", b"X-Was-Auto-Submitted:")
    assert old in data
    hostile.write_bytes(data.replace(old, new, 1))
    site.drop(
        "dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(people["gone"].id)
    )
    report = _run(site, store)
    assert statuses(store)["gone@example.org"] is SubscriberStatus.BOUNCED  # the next one applied
    assert statuses(store)["victim@example.org"] is ACTIVE
    assert len(report.failed) == 1 and report.read == 2
    assert report.failed[0].startswith(f"bounce mailbox: file new/{hostile.name} set aside")
    assert "\n" not in report.failed[0]
    assert len(list((site.maildir / ".failed" / "cur").iterdir())) == 1
    assert _run(site, store).read == 0


def test_a_message_above_max_message_bytes_is_set_aside_unread(
    tmp_path: Path, store: Store
) -> None:
    site = _site(tmp_path, max_message_bytes=4096)
    people = _people(store, "gone")
    big = site.drop(
        "dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(people["gone"].id)
    )
    big.write_bytes(big.read_bytes() + b"x" * 5000)
    report = _run(site, store)
    assert statuses(store)["gone@example.org"] is ACTIVE and events(store) == []
    assert "more than [bounces] max_message_bytes (4096)" in report.failed[0]


def test_a_different_report_reusing_a_message_id_is_not_a_duplicate(
    site: Site, store: Store
) -> None:
    people = _people(store, "early", "gone")
    site.drop("vacation.eml", rcpt="early@example.org", message_id="same@x",
              bounce=site.bounce_address(people["early"].id))  # fmt: skip
    site.drop("dsn_hard.eml", rcpt="gone@example.org", message_id="same@x",
              bounce=site.bounce_address(people["gone"].id))  # fmt: skip
    report = _run(site, store)
    assert report.duplicates == 0
    assert statuses(store)["gone@example.org"] is SubscriberStatus.BOUNCED
