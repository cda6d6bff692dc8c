"""``GET /healthz``: 200 when the store answers, with the worker heartbeat's age."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pressroom.errors import StoreError
from pressroom.store.runs import newest_heartbeat_age
from pressroom.web.common import in_read
from pressroom.web.context import WebContext

__all__ = ["healthz"]

log = logging.getLogger("pressroom.web")


async def healthz(ctx: WebContext, request: Request) -> Response:
    """Report the store's health and the worker heartbeat age in seconds (null if none)."""
    headers = {"Cache-Control": "no-store"}
    try:
        seen, age = await in_read(ctx, newest_heartbeat_age)  # the store's clock
    except (SQLAlchemyError, StoreError) as exc:
        log.warning("healthz: the store does not answer: %s", type(exc).__name__)
        body: dict[str, Any] = {"status": "error", "store": "unavailable"}
        return JSONResponse(body, status_code=503, headers=headers)
    body = {
        "status": "ok",
        "store": "ok",
        "worker_seen_at": seen.isoformat() if seen else None,
        "worker_heartbeat_age_s": round(age, 1) if age is not None else None,
    }
    return JSONResponse(body, headers=headers)
