"""The demo site's own config: the starter template filled with the demo's values."""

from __future__ import annotations

from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, demo_sections, site_facts
from pressroom.starter_config import ConfigValues, render_config

__all__ = ["DEMO_FROM_ADDRESS", "demo_postal_address", "render_demo_config"]

DEMO_FROM_ADDRESS = "newsletter@dangjian.example.cn"


def demo_postal_address() -> str:
    """The postal address in the demo site's page footer."""
    footer = site_facts()["footer"][1]
    return str(footer.split("电话")[0].removeprefix("地址:").strip())


def render_demo_config(*, public_url: str = "http://127.0.0.1:8080/") -> str:
    """The demo's commented config: its 22 sections, its address, a fresh web secret."""
    values = ConfigValues(
        site_name=DEMO_SITE_NAME,
        base_url=DEMO_BASE_URL,
        postal_address=demo_postal_address(),
        sections=demo_sections(),
        from_address=DEMO_FROM_ADDRESS,
        public_url=public_url,
    )
    return render_config(values)
