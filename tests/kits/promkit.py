"""A real Prometheus (Debian's ``prometheus``) on 127.0.0.1, fed the shipped config and rules.

:class:`PrometheusServer` copies ``examples/prometheus/prometheus.yml`` and
``examples/prometheus/alerts.yml`` into its own folder, changing only what a test must:
the scrape target, the scrape and evaluation intervals, the bearer token while the
metrics are scraped on the public port, and every rule's ``for:`` (shortened). It asks
Prometheus's HTTP API which alerts are pending or firing and what a query returns.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from daemonkit import free_port

__all__ = ["EXAMPLES", "PROMETHEUS", "PrometheusServer"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prometheus"
PROMETHEUS = shutil.which("prometheus")


def _changed(text: str, pattern: str, replacement: str) -> str:
    """``text`` with the one match of ``pattern`` replaced (the shipped file must have it)."""
    changed, count = re.subn(pattern, replacement, text)
    assert count == 1, f"{pattern!r} matched {count} times in the shipped prometheus.yml"
    return changed


class PrometheusServer:
    """``prometheus`` scraping ``target`` (``host:port``) every ``every`` seconds.

    ``token``: sent as ``Authorization: Bearer`` (``[web] metrics_token``); ``hold``:
    what every rule's ``for:`` becomes in the test's copy of the rules.
    """

    def __init__(
        self, target: str, *, token: str | None = None, every: str = "1s", hold: str = "3s"
    ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pressroom-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = (EXAMPLES / "alerts.yml").read_text(encoding="utf-8")
        shortened = re.sub(r"(?m)^(\s*)for: \S+$", rf"\1for: {hold}", rules)
        (self.folder / "pressroom-alerts.yml").write_text(shortened, encoding="utf-8")
        config = (EXAMPLES / "prometheus.yml").read_text(encoding="utf-8")
        config = _changed(config, r"scrape_interval: \S+", f"scrape_interval: {every}")
        config = _changed(config, r"evaluation_interval: \S+", f"evaluation_interval: {every}")
        config = _changed(config, r'- targets: \["[^"]+"\]', f'- targets: ["{target}"]')
        if token is not None:  # the public port: the metrics listener needs no token
            config = _changed(
                config,
                r"(?m)^(\s*)metrics_path: /metrics$",
                rf'\1metrics_path: /metrics\n\1authorization: {{credentials: "{token}"}}',
            )
        (self.folder / "prometheus.yml").write_text(config, encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def start(self) -> PrometheusServer:
        """Start it and wait until it answers ready (at most 30 s)."""
        assert PROMETHEUS is not None
        self._log = (self.folder / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            cwd=self.folder,
        )
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log()
                try:
                    if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            raise AssertionError("prometheus did not get ready in 30 s: " + self.log())
        except BaseException:
            self.stop()  # the caller has no server to stop: the process and its log end here
            raise

    def stop(self) -> None:
        """Stop it and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        """What Prometheus wrote to its log."""
        path = self.folder / "prometheus.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now: each sample's labels and value."""
        data = self._get("query", query=expr)
        return [{"labels": s["metric"], "value": float(s["value"][1])} for s in data["result"]]

    def alerts(self, state: str | None = None) -> list[dict[str, str]]:
        """The alerts pending or firing now (only ``state`` when given): their labels."""
        found = self._get("alerts")["alerts"]
        return [
            {**a["labels"], "state": a["state"]}
            for a in found
            if state is None or a["state"] == state
        ]

    def targets_up(self) -> bool:
        """Every scrape target was scraped, and its last scrape worked."""
        active = self._get("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def wait_firing(self, alertname: str, timeout: float, **labels: str) -> dict[str, str]:
        """Wait until ``alertname`` (with ``labels``) fires; its labels."""
        deadline = time.monotonic() + timeout
        while True:
            for alert in self.alerts("firing"):
                wanted = {"alertname": alertname, **labels}
                if all(alert.get(k) == v for k, v in wanted.items()):
                    return alert
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{alertname} {labels} did not fire in {timeout:.0f} s; now: {self.alerts()}"
                )
            time.sleep(0.5)
