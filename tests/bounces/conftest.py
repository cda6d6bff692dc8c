"""Fixtures of the bounce tests: a site with a Maildir bounce mailbox over both stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from bouncekit import Site, make_maildir, make_site_settings


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A Maildir bounce mailbox and settings with VERP on."""
    maildir = make_maildir(tmp_path / "Maildir")
    return Site(maildir, make_site_settings(tmp_path, f"maildir:{maildir}"))
