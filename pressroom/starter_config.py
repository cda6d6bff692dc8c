"""``pressroom init``: write a commented config and create the store.

The config ``init`` writes is neutral: the site's name, address and sender are clearly
marked placeholders, there is one example section, and the web secret is fresh.
:func:`render_config` renders the same template with other values (the demo's own site);
this module knows nothing of the demo.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from pressroom.config import DEFAULT_CONFIG_NAME, Settings, load_settings, redact_url
from pressroom.errors import OutputError
from pressroom.models import Section
from pressroom.wiring import Runtime

__all__ = [
    "CONFIG_FILE_MODE",
    "EXAMPLE_SECTION",
    "PLACEHOLDER_BASE_URL",
    "PLACEHOLDER_FROM_ADDRESS",
    "PLACEHOLDER_SITE_NAME",
    "ConfigValues",
    "init_project",
    "placeholders_left",
    "render_config",
    "render_example_config",
    "write_config",
]

CONFIG_FILE_MODE = 0o600
"""Config files hold the web secret (and maybe an SMTP password): owner only."""
PLACEHOLDER_SITE_NAME = "示例新闻网"
PLACEHOLDER_BASE_URL = "https://news.example.com/"
PLACEHOLDER_FROM_ADDRESS = "newsletter@news.example.com"
EXAMPLE_SECTION = Section("yaowen", "要闻", 1.0)
"""The one section a new config starts with; replace it with the site's own."""


@dataclass(frozen=True)
class ConfigValues:
    """The site-specific values of a config; the defaults are the operator's placeholders."""

    site_name: str = PLACEHOLDER_SITE_NAME
    base_url: str = PLACEHOLDER_BASE_URL
    postal_address: str = ""
    sections: Sequence[Section] = (EXAMPLE_SECTION,)
    from_address: str = PLACEHOLDER_FROM_ADDRESS
    public_url: str = "http://127.0.0.1:8080/"

    @classmethod
    def of(cls, settings: Settings) -> ConfigValues:
        """The site-specific values a loaded config holds."""
        return cls(
            site_name=settings.site.name,
            base_url=settings.site.base_url,
            postal_address=settings.site.postal_address,
            sections=[Section(s.slug, s.name, s.weight) for s in settings.sections],
            from_address=settings.mail.from_address,
            public_url=settings.web.public_url,
        )

    def to_fill_in(self) -> list[str]:
        """The keys that still hold their placeholder, in the order of the file."""
        example = [(EXAMPLE_SECTION.slug, EXAMPLE_SECTION.name)]
        still = {
            "site.name": self.site_name == PLACEHOLDER_SITE_NAME,
            "site.base_url": self.base_url == PLACEHOLDER_BASE_URL,
            "site.postal_address": not self.postal_address,
            "sections": [(s.slug, s.name) for s in self.sections] == example,
            "mail.from_address": self.from_address == PLACEHOLDER_FROM_ADDRESS,
        }
        return [key for key in _ADVICE if still[key]]


_ADVICE = {
    "site.name": f"still the placeholder {PLACEHOLDER_SITE_NAME!r}; set the site's name",
    "site.base_url": f"still the placeholder {PLACEHOLDER_BASE_URL}; set the home page",
    "site.postal_address": "empty; digests should show the sender's address",
    "sections": "only the example section; list the site's own sections",
    "mail.from_address": f"still the placeholder {PLACEHOLDER_FROM_ADDRESS}",
}
"""Each key ``init`` writes as a placeholder (marked TODO), and what ``config check`` says."""


def render_config(values: ConfigValues) -> str:
    """The fully commented config with ``values`` and a fresh web secret."""
    env = Environment(
        loader=PackageLoader("pressroom", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # TOML, not HTML; every value below is ours, not user input
    )
    return env.get_template("pressroom.toml.j2").render(
        site_name=values.site_name,
        base_url=values.base_url,
        postal_address=values.postal_address,
        sections=values.sections,
        from_address=values.from_address,
        public_url=values.public_url,
        secret=secrets.token_urlsafe(32),
        todo=values.to_fill_in(),
    )


def render_example_config(*, public_url: str = "http://127.0.0.1:8080/") -> str:
    """What ``pressroom init`` writes: placeholders, one example section, a fresh secret."""
    return render_config(ConfigValues(public_url=public_url))


def placeholders_left(settings: Settings) -> list[str]:
    """One line per setting that still holds what ``init`` wrote as a placeholder."""
    return [f"{key}: {_ADVICE[key]}" for key in ConfigValues.of(settings).to_fill_in()]


def init_project(directory: Path, *, force: bool = False, out: Callable[[str], None]) -> Runtime:
    """Write ``directory/pressroom.toml`` (unless present) and create its store.

    Raises:
        OutputError: DIR or its config file cannot be written.
    """
    path = directory / DEFAULT_CONFIG_NAME
    if path.exists() and not force:
        out(f"kept {path} (exists; --force overwrites it)")
    else:
        write_config(path, render_example_config())
        out(f"wrote {path} (fill in the values marked TODO)")
    runtime = Runtime(load_settings(path))
    runtime.store  # noqa: B018 - opening the store creates and migrates it
    out(f"store ready: {redact_url(runtime.settings.store.url)}")
    return runtime


def write_config(path: Path, text: str) -> None:
    """Write a config file (and its folder), readable by its owner only (0600): it holds
    the web secret that signs every link.

    The text goes to a new 0600 file beside ``path`` that replaces it, so an existing
    world-readable file is never written into and a crash leaves the old file whole.

    Raises:
        OutputError: the folder or file cannot be written.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, CONFIG_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), CONFIG_FILE_MODE)  # O_CREAT's mode passes the umask
            stream.write(text)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
