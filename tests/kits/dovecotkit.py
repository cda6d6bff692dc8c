"""A private Dovecot IMAP server on 127.0.0.1 for tests, serving one Maildir over TLS.

Its config, state and run folders are in a temporary folder of its own; it never reads
``/etc/dovecot``. One user (``password`` as its password) whose mail is the given Maildir
(Maildir++ layout: folder ``processed`` is ``<maildir>/.processed``); IMAP with implicit
TLS (``imaps``) on one loopback port, and plain IMAP with STARTTLS required on another.

Usage::

    with DovecotServer(maildir, cert=cert, key=key) as dovecot:
        imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps_port, ssl_context=...)

Needs root (Dovecot's master drops privileges) and the Debian ``dovecot-imapd`` package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from daemonkit import MAIL_UID, PrivateDaemon, daemon_folder, free_port, wait_listening

__all__ = ["DovecotServer", "skip_unless_dovecot"]

USER = "bounces"
PASSWORD = "imap-test-password"


def skip_unless_dovecot() -> None:
    """Skip the calling test (with the reason) when a private Dovecot cannot run here."""
    if shutil.which("dovecot") is None or not Path("/usr/lib/dovecot/imap").exists():
        pytest.skip("needs the dovecot program (Debian package dovecot-imapd)")
    if os.geteuid() != 0:
        pytest.skip("a private Dovecot instance needs root")


class DovecotServer(PrivateDaemon):
    """A running private Dovecot; a context manager that starts and stops it.

    Args:
        maildir: the Maildir to serve (made if missing, handed to the mail user); every
            folder above it must be open to that user (pytest's ``tmp_path`` is not), so
            by default it is ``Maildir`` in the server's own folder (removed on stop).
        cert: the server certificate (PEM).
        key: its private key (PEM).
    """

    def __init__(self, maildir: Path | None = None, *, cert: Path, key: Path) -> None:
        self.folder = daemon_folder("pressroom-dovecot-")
        self.maildir = maildir or self.folder / "Maildir"
        self.imaps_port = free_port()
        self.imap_port = free_port()
        self.user = USER
        self.password = PASSWORD
        self._cert, self._key = cert, key
        self._config = self.folder / "dovecot.conf"
        self.log_file = self.folder / "dovecot.log"

    def start(self) -> None:
        """Check that Dovecot can run here, write its configuration, start it; return once
        it greets on :attr:`imap_port`."""
        skip_unless_dovecot()
        self._write_config()
        with open(self.folder / "start.log", "wb") as out:  # the daemon keeps pipes open
            done = subprocess.run(
                ["dovecot", "-c", str(self._config)], stdout=out, stderr=out, check=False
            )
        if done.returncode != 0:
            started = (self.folder / "start.log").read_text(errors="replace").strip()
            raise RuntimeError(f"dovecot failed to start: {started}")
        wait_listening(self.imap_port, name="dovecot", log=self.log, greeting=b"* OK")

    def pid_file(self) -> Path:
        """The master's pid file."""
        return self.folder / "run" / "master.pid"

    def stop_command(self) -> list[str]:
        """``doveadm stop`` for this instance (the Maildir stays on stop)."""
        return ["doveadm", "-c", str(self._config), "stop"]

    def give_maildir_to_mail_user(self) -> None:
        """Hand every file of the Maildir to the mail user (after a test wrote into it)."""
        for path in [self.maildir, *self.maildir.rglob("*")]:
            os.chown(path, MAIL_UID, MAIL_UID)

    def _write_config(self) -> None:
        run = self.folder / "run"
        run.mkdir()
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self.give_maildir_to_mail_user()
        # Copies the login process can read (pytest's temporary folders are private).
        cert, key = self.folder / "cert.pem", self.folder / "key.pem"
        shutil.copyfile(self._cert, cert)
        shutil.copyfile(self._key, key)
        key.chmod(0o600)
        users = self.folder / "users"
        users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="ascii")
        users.chmod(0o644)
        self._config.write_text(
            f"""\
base_dir = {run}
state_dir = {self.folder / "state"}
log_path = {self.log_file}
info_log_path = {self.log_file}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = 1
mail_uid = {MAIL_UID}
mail_gid = {MAIL_UID}
mail_location = maildir:{self.maildir}
mail_home = {self.folder / "home"}
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""",
            encoding="ascii",
        )
