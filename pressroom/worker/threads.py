"""Running blocking work from the worker's event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["in_thread"]

T = TypeVar("T")


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    """Run ``func`` in a daemon thread, so a hard exit never waits for it.

    A daemon thread (unlike :func:`asyncio.to_thread`'s pool) does not hold the process
    at exit; feed files are written by rename, so stopping one mid-way leaves no half file.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        try:
            value = func(*args)
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            loop.call_soon_threadsafe(_set_exception, future, exc)
        else:
            loop.call_soon_threadsafe(_set_result, future, value)

    threading.Thread(target=target, name="pressroom-job", daemon=True).start()
    return await future


def _set_result(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
