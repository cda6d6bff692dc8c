"""``POST`` and ``DELETE /api/articles``: articles pushed by a CMS (a publish webhook).

Only with ``[web] ingest_token`` set; unset, every method answers 404 as any unknown path
does. A request must carry one ``Authorization: Bearer <token>`` header (the scheme in any
case, the token exactly; compared in constant time; a second Authorization header is
refused rather than guessed between). ``POST`` takes a JSON object, a JSON array of
objects (``application/json``) or one object per line (``application/x-ndjson``), in
UTF-8 (a declared charset must be UTF-8), checks each as ``pressroom import`` does and
answers ``{"stored", "unchanged", "errors": [{"index", "error"}]}``: 200 when every item
was stored, 422 when some were bad (the good ones are stored). An object naming a field
twice is a bad item (parsers disagree on which one wins). ``DELETE ?url=...`` withdraws
one article (``{"withdrawn": 0 or 1}``); an article a configured source wrote is that
source's (409). Every request, authorised or not, counts against a per-client rate limit
(``[web] ingest_per_minute``), which also slows token guessing. Refusals are one
sentence, ``{"error": "..."}``, with no SQL and no traceback: 400, 401, 405, 408 (a body
slower than a minute to arrive), 409, 413, 415, 429, and 503 when the store cannot be used
(nothing of the request is stored).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pressroom.errors import StoreError
from pressroom.importer import RowParser, url_problem
from pressroom.incoming import show, text_problem
from pressroom.sources.ingest import OwnedBySource, ingest_articles, withdraw_article
from pressroom.sources.service import section_keys
from pressroom.web.common import sections
from pressroom.web.context import WebContext
from pressroom.web.security import client_key

__all__ = [
    "INGEST_MAX_BYTES",
    "INGEST_MAX_ITEMS",
    "INGEST_READ_SECONDS",
    "articles_delete",
    "articles_other",
    "articles_post",
    "refusal",
]

INGEST_MAX_BYTES = 8 * 1024 * 1024
"""The largest body ``POST /api/articles`` reads (a larger one is refused with 413)."""
INGEST_READ_SECONDS = 60.0
"""The longest a ``POST`` body may take to arrive (408 beyond)."""
INGEST_MAX_ITEMS = 10_000
"""The most articles one ``POST`` may hold (413 beyond: ``pressroom import`` is for more)."""
_JSON_TYPES = ("application/json",)
_LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")
_UTF8 = ("utf-8", "utf8")
_STORE_DOWN = "the store cannot be used now; nothing was changed, retry later"


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
    given = request.headers.getlist("authorization")
    if len(given) > 1:
        return _unauthorized("send one Authorization header, not several")
    scheme, _, value = (given[0] if given else "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
        return _unauthorized(
            "a valid ingest token is required (Authorization: Bearer <[web] ingest_token>)"
        )
    return None


def _unauthorized(sentence: str) -> JSONResponse:
    return refusal(401, sentence, {"WWW-Authenticate": 'Bearer realm="pressroom ingest"'})


def _media_type(request: Request) -> tuple[str, str | None]:
    """The Content-Type's media type (lower case) and its charset parameter, if any."""
    kind, *params = request.headers.get("content-type", "").split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


async def articles_post(ctx: WebContext, request: Request) -> Response:
    """Store the articles in the body (see the module docstring)."""
    refused = await _checked(ctx, request)
    if refused is not None:
        return refused
    kind, charset = _media_type(request)
    if kind not in _JSON_TYPES + _LINES_TYPES:
        return refusal(415, "send application/json (an object or an array) or application/x-ndjson")
    if charset is not None and charset not in _UTF8:
        return refusal(415, f"send the body in UTF-8 (charset={charset} was declared)")
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    # decoding 8 MB of JSON takes a while: off the event loop, like the writes
    items, problems = await run_in_threadpool(_decode, body, kind)
    if items is None:
        status = 413 if problems[0][0] < 0 else 400
        return refusal(status, problems[0][1])
    try:
        keys = section_keys(await sections(ctx))
        parser = RowParser(keys, ctx.config.site.tz)
        report = await run_in_threadpool(ingest_articles, ctx.store, parser, items, ctx.clock)
    except StoreError:
        return refusal(503, _STORE_DOWN, {"Retry-After": "30"})
    report.errors.extend(problems)
    return JSONResponse(report.as_json(), status_code=422 if report.errors else 200)


async def articles_delete(ctx: WebContext, request: Request) -> Response:
    """Withdraw the article at ``?url=``."""
    refused = await _checked(ctx, request)
    if refused is not None:
        return refused
    urls = request.query_params.getlist("url")
    if len(urls) > 1:
        return refusal(400, "name one article per request: DELETE /api/articles?url=<its url>")
    url = urls[0].strip() if urls else ""
    if not url:
        return refusal(400, "name the article: DELETE /api/articles?url=<its url>")
    problem = text_problem(url) or url_problem(url)
    if problem:
        return refusal(400, f"the url {problem}")
    try:
        withdrawn = await run_in_threadpool(withdraw_article, ctx.store, url, ctx.clock)
    except OwnedBySource as exc:
        return refusal(409, str(exc))
    except StoreError:
        return refusal(503, _STORE_DOWN, {"Retry-After": "30"})
    return JSONResponse({"withdrawn": withdrawn})


async def articles_other(ctx: WebContext, request: Request) -> Response:
    """Any other method: 404 while the API is off, else 405 naming POST and DELETE."""
    if ctx.config.web.ingest_token is None:
        raise HTTPException(404)
    return refusal(
        405, f"{request.method} is not accepted here; use POST or DELETE", {"Allow": "POST, DELETE"}
    )


async def _body(request: Request) -> bytes | JSONResponse:
    """The body, or the refusal of one larger than :data:`INGEST_MAX_BYTES` (not read
    further) or slower than :data:`INGEST_READ_SECONDS` to arrive (a request that trickles
    in a byte at a time would hold its connection and a worker's memory for ever)."""
    declared = request.headers.get("content-length", "")
    too_large = refusal(
        413,
        f"the body is larger than {INGEST_MAX_BYTES // (1024 * 1024)} MB; "
        "send fewer articles at once",
    )
    if declared.isdigit() and int(declared) > INGEST_MAX_BYTES:
        return too_large
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(INGEST_READ_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > INGEST_MAX_BYTES:
                    return too_large
                parts.append(chunk)
    except TimeoutError:
        return refusal(
            408,
            f"the body took longer than {INGEST_READ_SECONDS:g} s to arrive; send it at once",
            {"Connection": "close"},
        )
    return b"".join(parts)


Decoded = tuple[list[tuple[int, Any]] | None, list[tuple[int, str]]]


def _decode(body: bytes, kind: str) -> Decoded:
    """The body's items, or ``(None, [(index, why)])``: index -1 for too many items (413).

    Items that name a field twice are left out and reported by their index.
    """
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return None, [(0, f"the body is not UTF-8 (byte {exc.start + 1})")]
    if kind == "application/json-seq":  # RFC 7464: each record starts with RS
        items, problems = _lines(text, "\x1e")
    elif kind in _LINES_TYPES:
        items, problems = _lines(text, "\n")
    else:
        items, problems = _document(text)
    if items is None:
        return items, problems
    if len(items) + len(problems) > INGEST_MAX_ITEMS:
        return None, [(-1, f"more than {INGEST_MAX_ITEMS:,} articles; send fewer at once")]
    kept: list[tuple[int, Any]] = []
    for index, value in items:
        if isinstance(value, _Fields) and value.twice:
            problems.append((index, f"field {show(value.twice)} is given twice"))
        else:
            kept.append((index, value))
    return kept, problems


class _Fields(dict[str, Any]):
    """A decoded JSON object that remembers the first field it met twice."""

    twice: str | None = None


def _fields(pairs: list[tuple[str, Any]]) -> _Fields:
    fields = _Fields(pairs)
    if len(fields) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                fields.twice = key
                break
            seen.add(key)
    return fields


def _loads(text: str) -> Any:
    """``text`` as JSON; raises ValueError with a sentence for a message."""
    try:
        return json.loads(text, object_pairs_hook=_fields)
    except json.JSONDecodeError as exc:
        raise ValueError(exc.msg) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        raise ValueError("a number with too many digits") from None


def _document(text: str) -> Decoded:
    """A JSON object or array: ``(items, [])``, or ``(None, [(0, why)])``."""
    try:
        value = _loads(text)
    except ValueError as exc:
        return None, [(0, f"the body is not valid JSON ({exc})")]
    if isinstance(value, dict):
        return [(0, value)], []
    if isinstance(value, list):
        return list(enumerate(value)), []
    return None, [(0, "the body must be a JSON object or an array of objects")]


def _lines(text: str, end: str) -> Decoded:
    """One JSON value per non-blank line, indexed from 0; a line that is not JSON is an error.

    Lines end at ``end`` (LF; RS for ``application/json-seq``) and nowhere else: U+2028,
    U+0085 and the other characters :meth:`str.splitlines` also breaks at may stand raw in
    a JSON string. White space around a line (a CR before the LF) is JSON's own.
    """
    items: list[tuple[int, Any]] = []
    problems: list[tuple[int, str]] = []
    for index, line in enumerate(x for x in text.split(end) if x.strip(" \t\r\n")):
        if index >= INGEST_MAX_ITEMS:
            problems.append((index, "too many"))  # enough to refuse the body (see _decode)
            break
        try:
            items.append((index, _loads(line)))
        except ValueError as exc:
            problems.append((index, f"not valid JSON ({exc})"))
    return items, problems
