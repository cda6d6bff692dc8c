"""A private Postfix relay on 127.0.0.1 for tests and benchmarks.

Everything lives in a temporary folder: ``config_directory`` (its own ``main.cf`` and
``master.cf``), ``queue_directory``, ``data_directory`` and the mail log; ``/etc/postfix``
is never read or written. The master runs in the foreground (``master -d``) as a child
of the caller, listening on one free loopback port, with no chroot and no local
delivery. Mail goes to ``next_hop`` (``[127.0.0.1]:port``, e.g. an aiosmtpd recorder) or,
without one, is queued to disk and discarded (``default_transport = discard``).

By default it is a strict relay: ``smtpd_delay_reject = no`` and
``smtpd_client_restrictions = sleep 1, reject_unauth_pipelining`` (a client that talks
before the greeting is refused), ``smtpd_data_restrictions = reject_unauth_pipelining``
(a client that sends DATA ahead of time without PIPELINING is refused).

Needs root (Postfix drops to its ``postfix`` user) and ``/usr/lib/postfix/sbin/master``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DAEMONS", "PostfixRelay", "missing"]

DAEMONS = Path("/usr/lib/postfix/sbin")
_POSTFIX = Path("/usr/sbin/postfix")

_MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def missing() -> str | None:
    """Why a private Postfix cannot run here (None when it can)."""
    if not (DAEMONS / "master").exists() or not _POSTFIX.exists():
        return "Postfix is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "a private Postfix needs root"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostfixRelay:
    """One private Postfix instance; ``start()`` returns once it answers on :attr:`port`.

    Args:
        next_hop: ``(host, port)`` to relay everything to; None: queue to disk, discard.
        settings: more ``main.cf`` lines (they override the defaults above).
        files: lookup tables to write beside ``main.cf`` (name -> content); refer to
            them as ``texthash:{config}/name`` in ``settings``.
    """

    def __init__(
        self,
        *,
        next_hop: tuple[str, int] | None = None,
        settings: Mapping[str, str] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pressroom-postfix-"))
        self.root.chmod(0o755)  # Postfix's daemons run as the postfix user
        self.config = self.root / "etc"
        self.queue = self.root / "queue"
        self.log = self.root / "maillog"
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.next_hop = next_hop
        self.settings = dict(settings or {})
        self.files = dict(files or {})
        self._master: subprocess.Popen[bytes] | None = None

    def main_cf(self) -> dict[str, str]:
        """The ``main.cf`` this instance runs with."""
        transport = "discard"
        if self.next_hop is not None:
            transport = f"smtp:[{self.next_hop[0]}]:{self.next_hop[1]}"
        values = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.root / "data"),
            "command_directory": "/usr/sbin",
            "daemon_directory": str(DAEMONS),
            "meta_directory": str(self.config),
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": f"pressroom-test-postfix-{self.port}",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "relay.pressroom.test",
            "mydomain": "pressroom.test",
            "myorigin": "pressroom.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_delay_reject": "no",
            "smtpd_client_restrictions": "sleep 1, reject_unauth_pipelining",
            "smtpd_data_restrictions": "reject_unauth_pipelining",
            "default_transport": transport,
            "relay_transport": transport,
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "smtp_dns_support_level": "disabled",
            "disable_dns_lookups": "yes",
            "smtputf8_enable": "yes",
            "biff": "no",
            "append_dot_mydomain": "no",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_banner": "$myhostname ESMTP",
            "message_size_limit": "10240000",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "default_process_limit": "100",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_message_rate_limit": "0",
        }
        values.update(self.settings)
        return values

    def start(self) -> PostfixRelay:
        """Write the configuration, create the queue, start the master; wait until the
        SMTP port answers (at most 20 s)."""
        self.config.mkdir(parents=True)
        self.queue.mkdir()
        for name, content in self.files.items():
            (self.config / name).write_text(content, encoding="utf-8")
        text = "".join(f"{k} = {v}\n" for k, v in self.main_cf().items())
        (self.config / "main.cf").write_text(text.replace("{config}", str(self.config)))
        (self.config / "master.cf").write_text(_MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))
        for name in ("postfix-files", "dynamicmaps.cf"):
            if Path("/etc/postfix", name).exists():
                shutil.copy(Path("/etc/postfix", name), self.config / name)
        if Path("/etc/postfix/postfix-files.d").is_dir():
            shutil.copytree("/etc/postfix/postfix-files.d", self.config / "postfix-files.d")
        if Path("/etc/postfix/dynamicmaps.cf.d").is_dir():
            shutil.copytree("/etc/postfix/dynamicmaps.cf.d", self.config / "dynamicmaps.cf.d")
        for _ in range(2):  # the first run creates the queue's folders, then checks again
            checked = subprocess.run(
                [str(_POSTFIX), "-c", str(self.config), "check"], capture_output=True
            )
            if checked.returncode == 0:
                break
        self._master = subprocess.Popen(
            [str(DAEMONS / "master"), "-c", str(self.config), "-d"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "MAIL_CONFIG": str(self.config)},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                err = self._master.stderr.read().decode() if self._master.stderr else ""
                raise RuntimeError(f"postfix master exited: {err.strip()} {self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postfix did not answer on port {self.port}: {self.log_text()}")

    def log_text(self) -> str:
        """The instance's mail log so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def queued(self) -> int:
        """Messages still in the queue (files under incoming, active, deferred)."""
        return sum(
            1
            for folder in ("incoming", "active", "deferred", "maildrop")
            for _, _, names in os.walk(self.queue / folder)
            for _ in names
        )

    def stop(self) -> None:
        """Stop the master (and so every daemon) and remove the folder."""
        master = self._master
        if master is not None and master.poll() is None:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(10)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        if master is not None and master.stderr is not None:
            master.stderr.close()
        self._master = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostfixRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
