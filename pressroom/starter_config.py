"""``pressroom init``: write a commented config and create the store."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from pressroom.config import DEFAULT_CONFIG_NAME, load_settings
from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, demo_sections, site_facts
from pressroom.errors import UsageError
from pressroom.wiring import Runtime

__all__ = ["init_project", "render_example_config"]


def render_example_config(*, public_url: str = "http://127.0.0.1:8080/") -> str:
    """The fully commented example config, for the demo site, with a fresh web secret."""
    env = Environment(
        loader=PackageLoader("pressroom", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # TOML, not HTML; every value below is ours, not user input
    )
    footer = site_facts()["footer"][1]
    address = footer.split("电话")[0].removeprefix("地址:").strip()
    return env.get_template("pressroom.toml.j2").render(
        site_name=DEMO_SITE_NAME,
        base_url=DEMO_BASE_URL,
        postal_address=address,
        sections=demo_sections(),
        from_address="newsletter@dangjian.example.cn",
        public_url=public_url,
        secret=secrets.token_urlsafe(32),
    )


def init_project(directory: Path, *, force: bool = False, out: Callable[[str], None]) -> Runtime:
    """Write ``directory/pressroom.toml`` (unless present) and create its store.

    Raises:
        UsageError: the config exists and ``force`` is not set, or DIR is not writable.
    """
    path = directory / DEFAULT_CONFIG_NAME
    if path.exists() and not force:
        out(f"kept {path} (exists; --force overwrites it)")
    else:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(render_example_config(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        out(f"wrote {path}")
    runtime = Runtime(load_settings(path))
    runtime.store  # noqa: B018 - opening the store creates and migrates it
    out(f"store ready: {runtime.settings.store.url}")
    return runtime
