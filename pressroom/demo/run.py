"""``pressroom demo``: make a whole site on embedded defaults and run every job on it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from pressroom.config import DEFAULT_CONFIG_NAME, load_settings, redact_url
from pressroom.demo.corpus import load_demo
from pressroom.demo.site_config import render_demo_config
from pressroom.errors import OutputError
from pressroom.starter_config import write_config
from pressroom.store.articles import count_articles
from pressroom.wiring import Runtime

__all__ = ["run_demo"]


def run_demo(directory: Path, *, out: Callable[[str], None], show_progress: bool = True) -> int:
    """Create (or reuse) the demo site in ``directory``, run every job once, say where it is.

    Returns the exit code: 0, or 1 when a job failed.
    """
    config = directory / DEFAULT_CONFIG_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the demo into {directory}: {exc.strerror}") from None
    if not config.exists():
        write_config(config, render_demo_config())  # 0600: it holds the web secret
        out(f"wrote the config           {config}")
    else:
        out(f"kept the config            {config}")
    runtime = Runtime(load_settings(config))
    try:
        return _run(runtime, out, show_progress)
    finally:
        runtime.close()


def _run(runtime: Runtime, out: Callable[[str], None], show_progress: bool) -> int:
    from pressroom.worker import run_once

    settings, store = runtime.settings, runtime.store
    with store.read() as conn:
        fresh = count_articles(conn) == 0
    if fresh:
        counts = load_demo(store, runtime.clock())
        out(f"loaded the demo corpus     {counts.inserted} articles, 22 sections, 5 subscribers")
    else:
        out("kept the demo store        (delete it to start over)")
    results = run_once(settings, store, runtime.clock, show_progress=show_progress)
    for result in results:
        out(f"ran {result.schedule:<22} {result.summary}")
    public = settings.path(settings.feeds.output_dir)
    outbox = settings.path(settings.mail.outbox)
    out("")
    out(f"store        {redact_url(settings.store_url).removeprefix('sqlite:///')}")
    out(f"feeds        {public}/  ({len(list(public.glob('*/rss.xml')))} feeds per format)")
    out(f"feed index   {public / 'index.html'}")
    out(f"OPML         {public / 'feeds.opml'}")
    archive = public / "digests" / "index.html"
    if archive.exists():
        out(f"digests      {archive}  (the public archive)")
    out(f"outbox       {outbox}/  ({len(list(outbox.glob('*.eml')))} messages)")
    out("")
    command = f"{_invocation()} --config {settings.source}"
    out(f"next:  {command} serve      (feeds and pages)")
    out(f"       {command} status")
    out("       newsboat -u <(echo file://" + str(public / "all" / "rss.xml") + ")")
    return 1 if any(result.failed for result in results) else 0


def _invocation() -> str:
    """How to call pressroom again the way it was just called (``.venv/bin/pressroom``)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "__main__.py":
        return "python -m pressroom"
    on_path = shutil.which("pressroom")
    if argv0.name == "pressroom" and (on_path is None or Path(on_path) != argv0.absolute()):
        return os.path.relpath(argv0)
    return "pressroom"
