"""``POST`` and ``DELETE /api/articles``: articles pushed by a CMS (a publish webhook).

Only with ``[web] ingest_token`` set; unset, both answer 404 as any unknown path does.
A request must carry ``Authorization: Bearer <token>`` (compared in constant time).
``POST`` takes a JSON object, a JSON array of objects (``application/json``) or one object
per line (``application/x-ndjson``), checks each as ``pressroom import`` does and answers
``{"stored", "unchanged", "errors": [{"index", "error"}]}``: 200 when every item was
stored, 422 when some were bad (the good ones are stored). ``DELETE ?url=...`` withdraws
one article (``{"withdrawn": 0 or 1}``). Every request, authorised or not, counts against
a per-client rate limit (``[web] ingest_per_minute``), which also slows token guessing.
Refusals are one sentence: ``{"error": "..."}``.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pressroom.importer import RowParser
from pressroom.sources.ingest import ingest_articles, withdraw_article
from pressroom.sources.service import section_keys
from pressroom.web.common import sections
from pressroom.web.context import WebContext
from pressroom.web.security import client_key

__all__ = ["INGEST_MAX_BYTES", "articles_delete", "articles_post", "refusal"]

INGEST_MAX_BYTES = 8 * 1024 * 1024
"""The largest body ``POST /api/articles`` reads (a larger one is refused with 413)."""
_JSON_TYPES = ("application/json",)
_LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


def refusal(status: int, sentence: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A refusal: ``{"error": sentence}``."""
    return JSONResponse({"error": sentence}, status_code=status, headers=headers)


async def _checked(ctx: WebContext, request: Request) -> Response | None:
    """None when the request may go on; else the 404, 429 or 401 answer."""
    token = ctx.config.web.ingest_token
    if token is None:
        raise HTTPException(404)  # the app's own not-found answer: the API does not exist
    wait = await ctx.ingest_limit.check(client_key(request))
    if wait:
        seconds = str(max(1, int(wait + 0.999)))
        return refusal(429, f"too many requests; retry in {seconds} s", {"Retry-After": seconds})
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return refusal(
            401,
            "a valid ingest token is required (Authorization: Bearer <[web] ingest_token>)",
            {"WWW-Authenticate": 'Bearer realm="pressroom ingest"'},
        )
    return None


async def articles_post(ctx: WebContext, request: Request) -> Response:
    """Store the articles in the body (see the module docstring)."""
    refused = await _checked(ctx, request)
    if refused is not None:
        return refused
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _JSON_TYPES + _LINES_TYPES:
        return refusal(415, "send application/json (an object or an array) or application/x-ndjson")
    body = await _body(request)
    if body is None:
        limit = f"{INGEST_MAX_BYTES // (1024 * 1024)} MB"
        return refusal(413, f"the body is larger than {limit}; send fewer articles at once")
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return refusal(400, f"the body is not UTF-8 (byte {exc.start + 1})")
    items, problems = _lines(text) if kind in _LINES_TYPES else _document(text)
    if items is None:
        return refusal(400, problems[0][1])
    keys = section_keys(await sections(ctx))
    parser = RowParser(keys, ctx.config.site.tz)
    report = await run_in_threadpool(ingest_articles, ctx.store, parser, items, ctx.clock)
    report.errors.extend(problems)
    return JSONResponse(report.as_json(), status_code=422 if report.errors else 200)


async def articles_delete(ctx: WebContext, request: Request) -> Response:
    """Withdraw the article at ``?url=``."""
    refused = await _checked(ctx, request)
    if refused is not None:
        return refused
    url = request.query_params.get("url", "").strip()
    if not url:
        return refusal(400, "name the article: DELETE /api/articles?url=<its url>")
    withdrawn = await run_in_threadpool(withdraw_article, ctx.store, url, ctx.clock)
    return JSONResponse({"withdrawn": withdrawn})


async def _body(request: Request) -> bytes | None:
    """The body, or None when it is larger than :data:`INGEST_MAX_BYTES` (not read further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > INGEST_MAX_BYTES:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > INGEST_MAX_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


Decoded = tuple[list[tuple[int, Any]] | None, list[tuple[int, str]]]


def _document(text: str) -> Decoded:
    """A JSON object or array: ``(items, [])``, or ``(None, [(0, why)])``."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return None, [(0, f"the body is not valid JSON ({reason})")]
    if isinstance(value, dict):
        return [(0, value)], []
    if isinstance(value, list):
        return list(enumerate(value)), []
    return None, [(0, "the body must be a JSON object or an array of objects")]


def _lines(text: str) -> Decoded:
    """One JSON value per non-blank line, indexed from 0; a line that is not JSON is an error."""
    items: list[tuple[int, Any]] = []
    problems: list[tuple[int, str]] = []
    for index, line in enumerate(x for x in text.splitlines() if x.strip()):
        try:
            items.append((index, json.loads(line)))
        except (ValueError, RecursionError):
            problems.append((index, "not valid JSON"))
    return items, problems
