"""ASGI middleware that answers GET and HEAD of the output directory's files itself.

Feed readers poll: most requests are a feed, answered 304 or from the cached gzip bytes.
Answering them before Starlette's routing and middleware stack costs a few microseconds
per request instead of a few hundred. A file seen before costs one ``stat`` on the event
loop; finding and reading one runs in a worker thread (the loop never waits on a read).
What is not a served file (an app route, a missing file, another method) goes on to the
app, whose catch-all route answers 404 with the site's page.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from pressroom.web.file_answer import answer
from pressroom.web.files import FeedFile, FeedFiles

__all__ = ["FileServer", "LinksFor"]

LinksFor = Callable[[str, FeedFile], Sequence[bytes]]
"""The ``Link`` header values for a file, given its URL path (``/all/rss.xml``)."""

_READ_HEADERS = frozenset((b"if-none-match", b"if-modified-since", b"accept-encoding"))


class FileServer:
    """Serve ``files`` for GET/HEAD of any path whose first segment is not an app route's.

    Args:
        app: the app for everything else.
        files: the output directory.
        reserved: first path segments of the app's own routes (``""`` for ``/``).
        cache_seconds: ``Cache-Control: max-age`` of the files.
        links_for: the ``Link`` headers of a file (WebSub hub and self).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        files: FeedFiles,
        reserved: Collection[str],
        cache_seconds: int,
        links_for: LinksFor = lambda _path, _file: (),
    ) -> None:
        self.app = app
        self.files = files
        self.reserved = frozenset(reserved)
        self.cache_seconds = cache_seconds
        self.links_for = links_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self._file_path(scope)
        if path is None:
            await self.app(scope, receive, send)
            return
        file = self.files.cached(path)
        if file is None:
            file = await to_thread.run_sync(self.files.find, path)
        if file is None:
            await self.app(scope, receive, send)
            return
        links = self.links_for(path, file)
        reply = answer(file, _read_headers(scope), cache_seconds=self.cache_seconds, links=links)
        start = {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
        await send(start)
        body = b"" if scope["method"] == "HEAD" else reply.body
        await send({"type": "http.response.body", "body": body})

    def _file_path(self, scope: Scope) -> str | None:
        """The URL path of a request this serves, else None."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        first = path.lstrip("/").split("/", 1)[0]
        return None if first in self.reserved else path


def _read_headers(scope: Scope) -> dict[str, str]:
    """The request headers :func:`answer` reads; repeated ones joined (RFC 9110 §5.3)."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        if raw_name in _READ_HEADERS:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            found[name] = f"{found[name]}, {value}" if name in found else value
    return found
