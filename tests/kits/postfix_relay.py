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
Its ``master.cf`` and the check for what it needs are ``postfixkit``'s, its folder, port
and wait ``daemonkit``'s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from daemonkit import daemon_folder, free_port, read_log, wait_listening
from postfixkit import SBIN as DAEMONS
from postfixkit import master_cf
from postfixkit import postfix_missing as missing

__all__ = ["DAEMONS", "PostfixRelay", "missing"]

_POSTFIX = Path("/usr/sbin/postfix")


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
        self.root = daemon_folder("pressroom-postfix-")
        self.config = self.root / "etc"
        self.queue = self.root / "queue"
        self.log = self.root / "maillog"
        self.host = "127.0.0.1"
        self.port = free_port()
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
        (self.config / "master.cf").write_text(master_cf(self.port))
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
        try:
            wait_listening(
                self.port, name="postfix master", log=self.log_text, exited=self._exited, timeout=20
            )
        except RuntimeError:
            self.stop()
            raise
        return self

    def _exited(self) -> str | None:
        if self._master is None or self._master.poll() is None:
            return None
        return self._master.stderr.read().decode().strip() if self._master.stderr else ""

    def log_text(self) -> str:
        """The instance's mail log so far."""
        return read_log(self.log)

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
