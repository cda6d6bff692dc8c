"""``GET /healthz``: 200 when the store answers, with the worker heartbeat's age."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pressroom.store.schema import workers
from pressroom.web.common import in_read
from pressroom.web.context import WebContext

__all__ = ["healthz", "newest_heartbeat"]

log = logging.getLogger("pressroom.web")


def newest_heartbeat(conn: Connection) -> datetime | None:
    """The most recent ``workers.seen_at``, or None when no worker ever ran."""
    # max() keeps the column's type, so the value comes back as an aware UTC datetime.
    value: datetime | None = conn.execute(select(func.max(workers.c.seen_at))).scalar()
    return value


async def healthz(ctx: WebContext, request: Request) -> Response:
    """Report the store's health and the worker heartbeat age in seconds (null if none)."""
    headers = {"Cache-Control": "no-store"}
    try:
        seen = await in_read(ctx, newest_heartbeat)
    except SQLAlchemyError as exc:
        log.warning("healthz: the store does not answer: %s", type(exc).__name__)
        body: dict[str, Any] = {"status": "error", "store": "unavailable"}
        return JSONResponse(body, status_code=503, headers=headers)
    now = ctx.clock()
    body = {
        "status": "ok",
        "store": "ok",
        "worker_seen_at": seen.isoformat() if seen else None,
        "worker_heartbeat_age_s": round((now - seen).total_seconds(), 1) if seen else None,
    }
    return JSONResponse(body, headers=headers)
