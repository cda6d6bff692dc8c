"""The IMAP path: a private Dovecot on 127.0.0.1 serves the bounce Maildir over TLS.

The same samples as the Maildir tests, read over IMAPS (and IMAP with STARTTLS), the
server's certificate checked against the test CA; handled messages end up flagged in
``processed``, unparseable ones in ``failed``.
"""

from __future__ import annotations

import imaplib
import ssl
from pathlib import Path

import pytest
from bouncekit import Site, make_site_settings, statuses
from dovecotkit import DovecotServer
from storekit import add_subscriber
from support import FakeClock

from pressroom.bounces.imap import ImapInbox
from pressroom.bounces.process import process_bounces
from pressroom.errors import JobFailed
from pressroom.models import BounceKind, SubscriberStatus
from pressroom.store.engine import Store

pytestmark = pytest.mark.external


def _imap_site(tmp_path: Path, dovecot: DovecotServer, scheme: str, ca: Path | None) -> Site:
    port = dovecot.imaps_port if scheme == "imaps" else dovecot.imap_port
    extra = {} if ca is None else {"ca_file": str(ca)}
    settings = make_site_settings(
        tmp_path / "site", f"{scheme}://{dovecot.user}@127.0.0.1:{port}/INBOX", **extra
    )
    return Site(dovecot.maildir, settings)


def _without_move(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the server look like one without MOVE (RFC 6851): copy, delete, expunge."""
    original = ImapInbox.__enter__

    def enter(self: ImapInbox) -> ImapInbox:
        inbox = original(self)
        conn = inbox._session()
        conn.capabilities = tuple(c for c in conn.capabilities if c != "MOVE")
        return inbox

    monkeypatch.setattr(ImapInbox, "__enter__", enter)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["imaps", "imap", "imaps-without-move"])
def test_imap_mailbox_is_processed_and_moved(
    tmp_path: Path,
    sqlite_store: Store,
    tls_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
) -> None:
    (tmp_path / "site").mkdir()
    monkeypatch.setenv("PRESSROOM_BOUNCES__PASSWORD", "imap-test-password")
    if scheme.endswith("-without-move"):
        _without_move(monkeypatch)
        scheme = scheme.split("-")[0]
    cert, key = tls_files
    with sqlite_store.write() as conn:
        gone = add_subscriber(conn, "gone@example.org")
        angry = add_subscriber(conn, "angry@example.org")
        add_subscriber(conn, "away@example.org")
    with DovecotServer(cert=cert, key=key) as dovecot:
        site = _imap_site(tmp_path, dovecot, scheme, ca=cert)
        site.drop("dsn_hard.eml", rcpt="gone@example.org", bounce=site.bounce_address(gone.id))
        site.drop("arf_complaint.eml", rcpt="angry@example.org",
                  bounce=site.bounce_address(angry.id))  # fmt: skip
        site.drop("vacation.eml", rcpt="away@example.org", bounce=site.bounce_address(9))
        site.drop("unparseable.eml", rcpt="-")
        dovecot.give_maildir_to_mail_user()
        report = process_bounces(site.config, sqlite_store, FakeClock())
        assert dict(report.kinds) == {
            BounceKind.HARD: 1, BounceKind.COMPLAINT: 1, BounceKind.AUTO_REPLY: 1
        }  # fmt: skip
        assert len(report.failed) == 1
        assert statuses(sqlite_store) == {
            "gone@example.org": SubscriberStatus.BOUNCED,
            "angry@example.org": SubscriberStatus.COMPLAINED,
            "away@example.org": SubscriberStatus.ACTIVE,
        }
        inbox, processed, failed = _folders(dovecot, cert)
        assert inbox == [] and len(failed) == 1
        assert len(processed) == 3 and all(b"\\Flagged" in f and b"\\Seen" in f for f in processed)
        again = process_bounces(site.config, sqlite_store, FakeClock())
        assert again.read == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("password", "trust_test_ca", "error"),
    [
        ("imap-test-password", False, "CERTIFICATE_VERIFY_FAILED"),  # the system CAs only
        ("wrong", True, r"imaps://bounces@127\.0\.0\.1:\d+/INBOX: .*"),  # one sentence
    ],
    ids=["certificate-verified", "wrong-password"],
)
def test_imap_connection_failures_stop_the_job(
    tmp_path: Path,
    sqlite_store: Store,
    tls_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    trust_test_ca: bool,
    error: str,
) -> None:
    (tmp_path / "site").mkdir()
    monkeypatch.setenv("PRESSROOM_BOUNCES__PASSWORD", password)
    with DovecotServer(cert=tls_files[0], key=tls_files[1]) as dovecot:
        site = _imap_site(tmp_path, dovecot, "imaps", ca=tls_files[0] if trust_test_ca else None)
        with pytest.raises(JobFailed, match=error):
            process_bounces(site.config, sqlite_store, FakeClock())


def _folders(dovecot: DovecotServer, ca: Path) -> tuple[list[bytes], list[bytes], list[bytes]]:
    context = ssl.create_default_context(cafile=str(ca))
    conn = imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=context)
    conn.login(dovecot.user, dovecot.password)
    found = []
    for folder in ("INBOX", "processed", "failed"):
        conn.select(folder)
        _, data = conn.uid("SEARCH", "ALL")
        flags = []
        for uid in (data[0] or b"").split():
            _, fetched = conn.uid("FETCH", uid.decode(), "(FLAGS)")
            flags.append(fetched[0] if isinstance(fetched[0], bytes) else b"")
        found.append(flags)
    conn.logout()
    return found[0], found[1], found[2]
