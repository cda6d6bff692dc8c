"""A real nginx (Debian's nginx-light) running ``examples/nginx/pressroom.conf``.

The example is used as shipped, adjusted only in paths and ports (and the site values
it marks ``SITE:``): it goes into a private ``nginx.conf`` whose ``http`` block holds
nothing but temp paths, so what the test proves is what the example does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nginx" / "pressroom.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def site_config(*, port: int, upstream_port: int, root: Path, public_url: str, hub: str) -> str:
    """The example with this machine's ports, paths, public URL and hub."""
    text = EXAMPLE.read_text(encoding="utf-8")
    replacements = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "listen [::]:80;": "",
        "root /var/www/pressroom/public;": f"root {root};",
        "https://news.example.com": public_url.rstrip("/"),
        "https://pubsubhubbub.appspot.com/": hub,
    }
    for old, new in replacements.items():
        assert old in text, f"the example no longer has {old!r}"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground with a private prefix, stopped on exit."""

    def __init__(self, prefix: Path, site: str, port: int) -> None:
        self.prefix = prefix
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "pressroom.conf").write_text(site, encoding="utf-8")
        temp = prefix / "temp"
        temp.mkdir(exist_ok=True)
        # as root, nginx's workers would run as nobody, who cannot read pytest's tmp dirs
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n"
            f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
            f"  scgi_temp_path {temp}/scgi;\n"
            f"  include {prefix}/pressroom.conf;\n}}\n",
            encoding="utf-8",
        )

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the configuration."""
        return subprocess.run(
            [NGINX, "-t", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def __enter__(self) -> Nginx:
        command = [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.process.kill()
        _, err = self.process.communicate(timeout=10)
        raise AssertionError(f"nginx did not start: {err}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
