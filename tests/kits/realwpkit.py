"""A real WordPress (Debian's package) installed into a test database by its own PHP.

``RealWordPress(url, home, content_dir)`` runs ``wordpress_driver.php`` under ``php`` for
every call: WordPress's ``wp_install()``, ``wp_insert_post()``, ``wp_trash_post()``... write
the rows, not us. The driver is its own ``wp-config.php`` (the DB constants, ``ABSPATH``,
``$table_prefix``) and requires ``wp-settings.php`` directly, so Debian's wp-config.php and
``/etc/wordpress/config-<host>.php`` are never read and nothing under /etc is written.
No HTTP request leaves (every one is refused and recorded), no mail is sent, no cron runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

__all__ = ["WORDPRESS", "RealWordPress", "missing"]

WORDPRESS = Path(os.environ.get("PRESSROOM_TEST_WORDPRESS", "/usr/share/wordpress"))
DRIVER = Path(__file__).with_name("wordpress_driver.php")
_MARK = "PRESSROOM-RESULT:"


def missing() -> str | None:
    """Why a real WordPress cannot run here (None: it can)."""
    if shutil.which("php") is None:
        return "php is not installed (apt-get install php-cli php-mysql)"
    if not (WORDPRESS / "wp-settings.php").exists():
        return f"no WordPress at {WORDPRESS} (apt-get install wordpress)"
    done = subprocess.run(
        ["php", "-r", "echo function_exists('mysqli_connect') && function_exists('imagejpeg');"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.stdout.strip() != "1":
        return "php lacks mysqli or gd (apt-get install php-mysql php-gd)"
    return None


class RealWordPress:
    """One WordPress site in the database at ``url`` (a SQLAlchemy MariaDB URL)."""

    def __init__(self, url: str, home: str, content_dir: Path, prefix: str = "wp_") -> None:
        parsed = make_url(url)
        content_dir.mkdir(parents=True, exist_ok=True)
        self.content_dir = content_dir
        self.http: list[str] = []
        self.mails: list[dict[str, Any]] = []
        self._settings = {
            "db_name": parsed.database,
            "db_user": parsed.username or "root",
            "db_password": parsed.password or "",
            "db_host": f"{parsed.host or '127.0.0.1'}:{parsed.port or 3306}",
            "abspath": str(WORDPRESS),
            "content_dir": str(content_dir),
            "home": home,
            "table_prefix": prefix,
            "installing": False,
        }

    def install(self, title: str, admin: str = "admin") -> None:
        """``wp_install()``: WordPress's tables, options, first user and sample content."""
        self.calls(
            [("wp_install", [title, admin, "admin@example.cn", True, "", "pressroom-test-pw"])],
            installing=True,
        )

    def call(self, function: str, *args: Any) -> Any:
        """``function(*args)`` in WordPress (a fresh PHP process); its result as JSON."""
        return self.calls([(function, list(args))])[0]

    def calls(self, calls: list[tuple[str, list[Any]]], *, installing: bool = False) -> list[Any]:
        """Several calls in one PHP process, in order; their results."""
        env = dict(os.environ)
        env["PRESSROOM_WP"] = json.dumps(self._settings | {"installing": installing})
        done = subprocess.run(
            # sendmail_path: even a mail() WordPress made past wp_mail could not be sent
            ["php", "-d", "sendmail_path=/bin/false", "-d", "display_errors=stderr", str(DRIVER)],
            input=json.dumps(calls),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        _, mark, tail = done.stdout.rpartition(_MARK)
        if done.returncode != 0 or not mark:
            raise AssertionError(
                f"WordPress failed ({done.returncode}) on {calls!r}:\n{done.stderr}\n"
                f"{done.stdout[-2000:]}\n{self.debug_log()}"
            )
        answer = json.loads(tail)
        self.http += answer["http"]
        self.mails += answer["mails"]
        results: list[Any] = answer["results"]
        return results

    def debug_log(self) -> str:
        """What WordPress logged (``WP_DEBUG_LOG``): notices, deprecations."""
        log = self.content_dir / "debug.log"
        return log.read_text("utf-8", "replace") if log.exists() else ""
