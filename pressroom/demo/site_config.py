"""The demo site's own config: the starter template filled with the demo's values."""

from __future__ import annotations

from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, demo_sections, site_facts
from pressroom.starter_config import ConfigValues, render_config

__all__ = [
    "DEMO_COPYRIGHT",
    "DEMO_FROM_ADDRESS",
    "DEMO_ICON_URL",
    "DEMO_LOGO_URL",
    "demo_postal_address",
    "render_demo_config",
]

DEMO_FROM_ADDRESS = "newsletter@dangjian.example.cn"
DEMO_LOGO_URL = f"{DEMO_BASE_URL}images/logo.png"
DEMO_ICON_URL = f"{DEMO_BASE_URL}favicon.ico"
DEMO_COPYRIGHT = "版权所有 © 2004-2026 辽宁党建网"


def demo_postal_address() -> str:
    """The postal address in the demo site's page footer."""
    footer = site_facts()["footer"][1]
    return str(footer.split("电话")[0].removeprefix("地址:").strip())


def render_demo_config(*, public_url: str = "http://127.0.0.1:8080/") -> str:
    """The demo's commented config: its 22 sections (each with its page), its address,
    logo, icon and copyright, a fresh web secret."""
    values = ConfigValues(
        site_name=DEMO_SITE_NAME,
        base_url=DEMO_BASE_URL,
        postal_address=demo_postal_address(),
        sections=demo_sections(),
        from_address=DEMO_FROM_ADDRESS,
        public_url=public_url,
    )
    return _where_it_belongs(render_config(values), values.postal_address)


def _where_it_belongs(text: str, postal_address: str) -> str:
    """Add the keys the starter config leaves commented out: the site's logo, icon and
    copyright, and each section's page (``[[sections]] url``)."""
    address_line = f'postal_address = "{postal_address}"\n'
    site_keys = (
        f'logo_url = "{DEMO_LOGO_URL}"\nicon_url = "{DEMO_ICON_URL}"\n'
        f'copyright = "{DEMO_COPYRIGHT}"\n'
    )
    text = _insert_after(text, address_line, site_keys)
    for section in demo_sections():
        slug_line = f'[[sections]]\nslug = "{section.slug}"\n'
        text = _insert_after(text, slug_line, f'url = "{DEMO_BASE_URL}{section.slug}/"\n')
    return text


def _insert_after(text: str, anchor: str, addition: str) -> str:
    if text.count(anchor) != 1:  # the starter template changed: say where
        raise RuntimeError(f"demo config: expected one {anchor.strip()!r} in the starter config")
    return text.replace(anchor, anchor + addition)
