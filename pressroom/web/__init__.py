"""The web app: feed files, subscribe, confirm, unsubscribe, preferences, health."""

from __future__ import annotations

from pressroom.web.app import create_app

__all__ = ["create_app"]
