"""Rendering the web pages: one Jinja2 environment over ``templates/web`` (autoescape on)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from pressroom.config import SiteSettings
from pressroom.models import Frequency
from pressroom.web.security import PAGE_HEADERS

__all__ = ["FREQUENCY_LABELS", "Pages"]

FREQUENCY_LABELS: dict[str, str] = {
    Frequency.DAILY.value: "每日一封",
    Frequency.WEEKLY.value: "每周一封",
}


def make_environment() -> Environment:
    """The template environment for pages and the confirmation mail."""
    return Environment(
        loader=PackageLoader("pressroom", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class Pages:
    """Renders ``web/<name>.html`` with the site's common values."""

    def __init__(self, site: SiteSettings, env: Environment | None = None) -> None:
        self.env = env or make_environment()
        self.common: dict[str, Any] = {
            "site_name": site.name,
            "site_url": site.base_url,
            "language": site.language,
            "frequencies": FREQUENCY_LABELS,
        }

    def html(self, name: str, **context: Any) -> str:
        """Render one page to a string."""
        template = self.env.get_template(f"web/{name}.html")
        return template.render({**self.common, **context})

    def render(
        self,
        name: str,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render one page as a response with the security headers and no caching."""
        all_headers = {**PAGE_HEADERS, "Cache-Control": "no-store", **(headers or {})}
        return HTMLResponse(self.html(name, **context), status_code, headers=all_headers)
