"""``pressroom demo`` once, then ``pressroom serve`` on it as a real process.

:class:`ServeProcess` can hide uvloop and httptools from the served process (the install
the README gives users, ``pip install .``, has neither), so a test can exercise both the
fast stack and the plain asyncio + h11 one from the same test environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

SECRET = "serve-kit-secret-0123456789abcdef"

_WITHOUT_FAST_STACK = (
    "import sys; sys.modules.update(uvloop=None, httptools=None); "
    "from pressroom.cli import main; sys.exit(main(sys.argv[1:]))"
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``PRESSROOM_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    env.update(extra)
    return env


def make_demo(directory: Path, public_url: str, **env: str) -> Path:
    """Run ``pressroom demo`` into ``directory`` for a site at ``public_url`` (``env``: more
    ``PRESSROOM_*`` settings); returns its config file."""
    made = subprocess.run(
        [sys.executable, "-m", "pressroom", "demo", str(directory)],
        capture_output=True,
        text=True,
        env=clean_env(
            **{"PRESSROOM_WEB__SECRET": SECRET, "PRESSROOM_WEB__PUBLIC_URL": public_url, **env}
        ),
        timeout=180,
    )
    assert made.returncode == 0, made.stderr
    return directory / "pressroom.toml"


class ServeProcess:
    """``pressroom serve --host 127.0.0.1 --port <port>`` (default 0: any) as a child process.

    ``fast=False`` hides uvloop and httptools from it (as if they were not installed).
    ``env`` is added to a clean environment (``PRESSROOM_*`` removed).
    """

    def __init__(
        self,
        config: Path,
        *,
        fast: bool = True,
        env: dict[str, str] | None = None,
        port: int = 0,
    ):
        self.fast = fast
        python = [sys.executable, "-m", "pressroom"] if fast else [sys.executable, "-c"]
        prefix = python if fast else [*python, _WITHOUT_FAST_STACK]
        self.command = [*prefix, "--config", str(config), "serve", "--host", "127.0.0.1"]
        self.command += ["--port", str(port)]
        # the metrics listener on a free port: parallel servers never race for 9464
        defaults = {"PRESSROOM_WEB__SECRET": SECRET, "PRESSROOM_WEB__METRICS_LISTEN": "127.0.0.1:0"}
        self.env = clean_env(**{**defaults, **(env or {})})
        self.url = ""
        self.stack = ""

    def __enter__(self) -> ServeProcess:
        # stderr to a file: a pipe nobody reads would block the server once it is full
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self.errors, text=True, env=self.env
        )
        assert self.process.stdout is not None
        serving = self.process.stdout.readline()
        if not serving.startswith("pressroom: serving http://"):
            self.process.kill()
            self.process.communicate(timeout=10)  # waits, and closes its stdout
            problem = self.stderr()
            self.errors.close()
            raise AssertionError(f"pressroom serve did not start: {serving!r} {problem}")
        self.url = serving.split()[2]
        # "pressroom: feeds from <dir> (<loop>, <parser>)", after the metrics listener's line
        line = self.process.stdout.readline()
        while line and not line.startswith("pressroom: feeds from"):
            line = self.process.stdout.readline()
        self.stack = line.rsplit("(", 1)[-1].strip(" )\n")
        return self

    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        self.errors.seek(0)
        return self.errors.read().decode("utf-8", "replace")

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=15)
            if kind is None:
                assert code == 0, f"pressroom serve exited with {code}: {self.stderr()}"
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.communicate()
            self.errors.close()
