"""A private Postfix on 127.0.0.1 for tests: its own config and queue in a temporary folder.

It never reads or touches ``/etc/postfix``'s instance: every path it uses (config, queue,
data, mailboxes) is under a temporary folder of its own, it listens on one loopback port chosen
at start, ``inet_interfaces = loopback-only`` and no relay (nothing leaves the machine).

Mail for ``@<domain>`` (``mail.test`` by default) is accepted for any local part and
delivered by Postfix's ``virtual`` agent: listed mailboxes into Maildirs under
``mailboxes/``, any other local part bounced as ``5.1.1 unknown user``, so Postfix sends a
real DSN (RFC 3464) to the envelope sender, which can itself be a mailbox of the domain
(``bounces+<token>@mail.test`` is ``bounces@mail.test``'s Maildir: ``recipient_delimiter``).

Usage::

    with PostfixServer(mailboxes=["bounces", "alive"]) as postfix:
        ... send to 127.0.0.1:postfix.port ...
        postfix.wait_for(postfix.maildir("bounces"), count=3)

Needs root (Postfix's master runs as root and drops to ``postfix``) and the Debian
``postfix`` package; :func:`skip_unless_postfix` says why a test cannot run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from daemonkit import MAIL_UID, PrivateDaemon, daemon_folder, free_port, wait_listening

__all__ = [
    "PostfixServer",
    "maildir_messages",
    "master_cf",
    "postfix_missing",
    "skip_unless_postfix",
]

SBIN = Path("/usr/lib/postfix/sbin")

_MASTER_CF = """\
{listen}  inet  n  -  n  -  -  smtpd
pickup    unix  n  -  n  60    1  pickup
cleanup   unix  n  -  n  -     0  cleanup
qmgr      unix  n  -  n  300   1  qmgr
rewrite   unix  -  -  n  -     -  trivial-rewrite
bounce    unix  -  -  n  -     0  bounce
defer     unix  -  -  n  -     0  bounce
trace     unix  -  -  n  -     0  bounce
verify    unix  -  -  n  -     1  verify
flush     unix  n  -  n  1000? 0  flush
proxymap  unix  -  -  n  -     -  proxymap
proxywrite unix -  -  n  -     1  proxymap
smtp      unix  -  -  n  -     -  smtp
relay     unix  -  -  n  -     -  smtp
showq     unix  n  -  n  -     -  showq
error     unix  -  -  n  -     -  error
retry     unix  -  -  n  -     -  error
discard   unix  -  -  n  -     -  discard
local     unix  -  n  n  -     -  local
virtual   unix  -  n  n  -     -  virtual
anvil     unix  -  -  n  -     1  anvil
scache    unix  -  -  n  -     1  scache
postlog   unix-dgram n - n  -     1  postlogd
"""


def postfix_missing() -> str | None:
    """Why a private Postfix cannot run here (None when it can)."""
    if shutil.which("postfix") is None or not (SBIN / "master").exists():
        return "needs the postfix program (Debian package postfix)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its master drops to 'postfix')"
    return None


def skip_unless_postfix() -> None:
    """Skip the calling test (with the reason) when a private Postfix cannot run here."""
    reason = postfix_missing()
    if reason is not None:
        pytest.skip(reason)


def master_cf(port: int) -> str:
    """A ``master.cf`` with Postfix's usual services and one SMTP listener on
    127.0.0.1:``port`` (no chroot)."""
    return _MASTER_CF.format(listen=f"127.0.0.1:{port}")


def maildir_messages(maildir: Path) -> list[Path]:
    """The message files in a Maildir's ``new`` and ``cur``, oldest name first."""
    found: list[Path] = []
    for sub in ("new", "cur"):
        if (maildir / sub).is_dir():
            found += [p for p in (maildir / sub).iterdir() if p.is_file()]
    return sorted(found, key=lambda p: p.name)


class PostfixServer(PrivateDaemon):
    """A running private Postfix; a context manager that starts and stops it.

    Its folder (config, queue, mailboxes) is made under the system's temporary folder,
    readable by the ``postfix`` user (pytest's ``tmp_path`` is not), and removed on stop.

    Args:
        mailboxes: the local parts of ``domain`` that exist (each a Maildir).
        domain: the one domain it receives for.
        aliases: more local parts delivered into one of ``mailboxes``' Maildirs
            (``{"unsubscribe": "bounces"}``).
    """

    def __init__(
        self,
        *,
        mailboxes: list[str],
        domain: str = "mail.test",
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.folder = daemon_folder("pressroom-postfix-")
        self.domain = domain
        self.mailboxes = list(mailboxes)
        self.aliases = dict(aliases or {})
        self.port = free_port()
        self.config_dir = self.folder / "etc"
        self.queue_dir = self.folder / "queue"
        self.mail_dir = self.folder / "mailboxes"
        self.log_file = self.folder / "maillog"

    def maildir(self, mailbox: str) -> Path:
        """The Maildir of ``mailbox@domain``."""
        return self.mail_dir / mailbox / "Maildir"

    def address(self, local: str) -> str:
        """``local@domain``."""
        return f"{local}@{self.domain}"

    def start(self) -> None:
        """Check that Postfix can run here, write its configuration, start it; return once
        it greets on :attr:`port`."""
        skip_unless_postfix()
        self._write_config()
        self._postfix("check")
        self._postfix("start")
        wait_listening(self.port, name="postfix", log=self.log, greeting=b"220")

    def pid_file(self) -> Path:
        """The master's pid file."""
        return self.queue_dir / "pid" / "master.pid"

    def stop_command(self) -> list[str]:
        """``postfix stop`` for this instance."""
        return ["postfix", "-c", str(self.config_dir), "stop"]

    def wait_for(self, maildir: Path, count: int, timeout: float = 30.0) -> list[Path]:
        """Wait until ``maildir`` holds ``count`` messages; return them.

        Raises:
            AssertionError: fewer arrived in time (with Postfix's log).
        """
        deadline = time.monotonic() + timeout
        while True:
            found = maildir_messages(maildir)
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(found) >= count, f"{len(found)}/{count} messages in {maildir}:\n{self.log()}"
        return found

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True)
        self.queue_dir.mkdir()
        (self.folder / "data").mkdir()
        shutil.chown(self.folder / "data", "postfix")
        self.mail_dir.mkdir()
        os.chown(self.mail_dir, MAIL_UID, MAIL_UID)
        maps = self.config_dir / "mailboxes"
        boxes = {m: m for m in self.mailboxes} | self.aliases
        maps.write_text(
            "".join(f"{m}@{self.domain} {box}/Maildir/\n" for m, box in boxes.items()),
            encoding="ascii",
        )
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.folder / "data"),
            "myhostname": f"mx.{self.domain}",
            "mydomain": self.domain,
            "myorigin": self.domain,
            "mydestination": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "relayhost": "",
            "default_transport": "error:5.7.1 this test instance relays nothing",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_reject_unlisted_recipient": "no",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": str(self.mail_dir),
            "virtual_mailbox_maps": f"texthash:{maps}",
            "virtual_minimum_uid": "1",
            "virtual_uid_maps": f"static:{MAIL_UID}",
            "virtual_gid_maps": f"static:{MAIL_UID}",
            "recipient_delimiter": "+",
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(self.folder),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0",
            "smtp_dns_support_level": "disabled",
            "biff": "no",
            "smtpd_banner": "$myhostname ESMTP pressroom-test",
        }
        (self.config_dir / "main.cf").write_text(
            "".join(f"{key} = {value}\n" for key, value in main.items()), encoding="ascii"
        )
        (self.config_dir / "master.cf").write_text(master_cf(self.port), encoding="ascii")

    def _postfix(self, action: str) -> None:
        done = subprocess.run(
            ["postfix", "-c", str(self.config_dir), action],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"postfix {action} failed: {done.stderr.strip()}\n{self.log()}")
