"""The ``pressroom`` command line: thin commands over the functions the worker and web use.

Exit codes: 0 success, 1 the job ran and failed, 2 bad usage or bad config. Errors are one
sentence on stderr; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from pressroom import __version__
from pressroom.config import default_config_path
from pressroom.errors import ConfigError, OutputError, PressroomError
from pressroom.models import SubscriberStatus
from pressroom.wiring import Runtime, digest_config, load_runtime

__all__ = ["main"]

log = logging.getLogger("pressroom")
RESUBSCRIBE_HELP = "re-activate unsubscribed, bounced or complained addresses (logged)"
Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------- foundation commands


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented pressroom.toml into DIR and create the store."""
    from pressroom.starter_config import init_project

    init_project(Path(args.dir), force=args.force, out=print).close()
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate the configuration and what a live site needs; problems are raised as
    ConfigError (exit 2), warnings go to stderr.

    A valid file that still holds what ``init`` wrote as placeholders is accepted, with
    one line per value left to fill in.
    """
    from pressroom.config import deployment_check
    from pressroom.starter_config import placeholders_left

    runtime = _runtime(args)
    settings = runtime.settings
    label = str(settings.source or "environment")
    problems, warnings = deployment_check(settings)
    if problems:
        raise ConfigError([f"{label}: {problem}" for problem in problems])
    print(
        f"{settings.source}: OK ({len(settings.sections)} sections, "
        f"{len(settings.schedules)} schedules, store {settings.store.url.split(':')[0]})"
    )
    for warning in warnings:
        print(f"{label}: warning: {warning}", file=sys.stderr)
    left = placeholders_left(settings)
    if left:
        print("to fill in before going live:")
        print("\n".join(f"  {line}" for line in left))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Load articles from JSON Lines; report bad rows by line; exit 1 if any was bad."""
    from pressroom.importer import import_file

    runtime = _runtime(args)
    report = import_file(
        runtime.store,
        args.file,
        zone=runtime.settings.site.tz,
        clock=runtime.clock,
        batch_size=args.batch_size,
        report_bad=lambda line: print(line, file=sys.stderr),
    )
    print(f"imported {report.summary()}")
    return 1 if report.bad else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Make a demo site in DIR and run everything pressroom does on it."""
    from pressroom.demo.run import run_demo

    if not args.debug:  # demo prints its own summary of every job; the log would repeat it,
        logging.getLogger().setLevel(logging.WARNING)  # and libraries' lines (httpx) with it
        logging.getLogger("pressroom").setLevel(logging.WARNING)
    return run_demo(Path(args.dir), out=print)


# ---------------------------------------------------------------- sources


def cmd_sources_sync(args: argparse.Namespace) -> int:
    """Sync the configured sources (or one), each a recorded run of the ``sources`` job;
    exit 1 if a source failed or a row was bad."""
    from dataclasses import replace

    from pressroom.clock import Clock
    from pressroom.errors import JobFailed, SourceError, UsageError
    from pressroom.sources.service import SourceSyncs
    from pressroom.sources.sync import SyncReport
    from pressroom.store.engine import Store
    from pressroom.wiring import source_specs
    from pressroom.worker.manual import sync_source_manually
    from pressroom.worker.scheduler import default_jobs, worker_config

    runtime = _runtime(args)
    settings = runtime.settings
    specs = source_specs(settings, args.name)
    if not specs:
        raise UsageError("no [sources.<name>] in the config: nothing to sync")
    syncs = SourceSyncs(specs)
    bad = 0

    def sync(name: str, store: Store, clock: Clock, *, full: bool = False) -> SyncReport:
        return syncs.sync(name, store, clock, full=full, report_bad=_print_bad)

    def _print_bad(line: str) -> None:
        nonlocal bad
        bad += 1
        print(line, file=sys.stderr)

    jobs = replace(default_jobs(settings), sync_source=sync)
    config = worker_config(settings)
    failed = False
    try:
        for spec in specs:
            try:
                report = sync_source_manually(
                    config, jobs, runtime.store, runtime.clock, spec.name, full=args.full
                )
            except (SourceError, JobFailed) as exc:  # recorded; the other sources go on
                print(f"pressroom: error: {exc}", file=sys.stderr)
                failed = True
                continue
            print(report.summary())
    finally:
        syncs.close()
    return 1 if failed or bad else 0


# ---------------------------------------------------------------- feeds


def cmd_feeds_build(args: argparse.Namespace) -> int:
    """Write the feeds that changed; print what was written, kept and removed."""
    from pressroom.worker.manual import build_feeds_manually
    from pressroom.worker.scheduler import default_jobs, worker_config

    runtime = _runtime(args)
    settings = runtime.settings
    report = build_feeds_manually(
        worker_config(settings), default_jobs(settings), runtime.store, runtime.clock,
        force=args.force,
    )  # fmt: skip  # recorded in job_runs; JobFailed when another process holds the lease
    for line in report.lines():
        print(line)
    _wait_for_pings()
    return 0 if report.ok else 1


def _wait_for_pings() -> None:
    """Before exiting, wait for the build's WebSub pings (each hub within the ping policy's
    deadline) and say how each hub answered; a hub never changes the exit code."""
    from pressroom.feeds.websub import PingPolicy, wait_for_announcements

    policy = PingPolicy()
    for outcome in wait_for_announcements(policy.deadline + policy.timeout):
        told = len(outcome.published)
        if outcome.ok:
            print(f"websub   {outcome.hub}: told of {told} changed feed(s)")
            continue
        print(
            f"pressroom: websub: {outcome.hub} was not told of {len(outcome.failed)} changed "
            f"feed(s) ({outcome.error}; {told} told); its subscribers get them when it next "
            "polls the feeds",
            file=sys.stderr,
        )


# ---------------------------------------------------------------- digest


def cmd_digest_preview(args: argparse.Namespace) -> int:
    """Render a digest without sending or recording anything."""
    from pressroom.digest.preview import preview_digest

    runtime = _runtime(args)
    settings = runtime.settings
    config = digest_config(settings)
    shown = preview_digest(
        config, runtime.store, runtime.clock, schedule=args.schedule, subscriber=args.subscriber
    )
    window = f"{shown.window_start:%Y-%m-%d %H:%M} .. {shown.window_end:%Y-%m-%d %H:%M} UTC"
    if not shown:
        print(f"digest {shown.key}: no important article for {shown.recipient} in {window}")
        print("nobody with these sections would get a mail")
        return 0
    out = Path(args.out) if args.out else settings.base_dir / "digest-preview.html"
    with _output_file(out, "preview") as stream:
        stream.write(shown.html)
    print(f"digest {shown.key} for {shown.recipient}: {shown.articles} articles ({window})")
    print(f"Subject: {shown.subject}")
    print(f"HTML ({len(shown.html.encode('utf-8')) // 1024} KB): {out}")
    print()
    print(shown.text, end="")
    return 0


def cmd_digest_send(args: argparse.Namespace) -> int:
    """Select, render and deliver a digest (resuming an interrupted one)."""
    from pressroom.digest.service import send_digest_blocking
    from pressroom.worker.manual import send_digest_manually
    from pressroom.worker.scheduler import default_jobs, worker_config

    runtime = _runtime(args)
    if not args.dry_run and not args.to:  # a real send is a run: recorded in job_runs
        settings = runtime.settings
        report = send_digest_manually(
            worker_config(settings), default_jobs(settings), runtime.store, runtime.clock,
            schedule=args.schedule,
        )  # fmt: skip
        print(report.summary())
        return 0 if report.ok else 1
    report = send_digest_blocking(
        digest_config(runtime.settings),
        runtime.store,
        runtime.clock,
        schedule=args.schedule,
        dry_run=args.dry_run,
        to=args.to,
        show_progress=True,
    )
    print(report.summary())
    return 0 if report.ok else 1


def cmd_subscribers(args: argparse.Namespace) -> int:
    """Manage subscribers (add, remove, list, show, import, export)."""
    from pressroom.subscribers import roster

    runtime = _runtime(args)
    store, now, action = runtime.store, runtime.clock(), args.subscribers_command
    zone = runtime.settings.site.tz
    if action == "add":
        done = roster.add_subscriber(
            store, args.email, name=args.name, sections=args.sections,
            frequency=args.frequency, now=now, zone=zone, resubscribe=args.resubscribe,
            smtputf8=runtime.settings.mail.accepts_utf8_local_parts,
        )  # fmt: skip
        saved = done.subscriber
        if done.notice:
            print(f"{done.notice} (--resubscribe to change it)", file=sys.stderr)
            return 1
        chosen = ",".join(saved.sections) or "all sections"
        print(f"{done.outcome} {saved.email} ({saved.frequency}, {chosen})")
    elif action == "remove":
        print(f"unsubscribed {roster.remove_subscriber(store, args.email, now).email}")
    elif action == "list":
        lines = roster.listing(store, args.status)
        print("\n".join(lines), end="\n" if lines else "")
        print(f"{len(lines)} subscribers", file=sys.stderr)
    elif action == "show":
        print("\n".join(roster.show_subscriber(store, args.email, zone)))
    elif action == "import":
        report = roster.import_csv_file(
            store, args.file, now, out=print, zone=zone, resubscribe=args.resubscribe,
            smtputf8=runtime.settings.mail.accepts_utf8_local_parts,
        )  # fmt: skip
        print(report.summary())
        return 1 if report.bad else 0
    elif args.file == "-":
        roster.export_subscribers(store, sys.stdout, with_consent=args.with_consent)
    else:
        with _output_file(Path(args.file), "export") as stream:
            count = roster.export_subscribers(store, stream, with_consent=args.with_consent)
        print(f"exported {count} subscribers to {args.file}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- bounces


def cmd_bounces(args: argparse.Namespace) -> int:
    """Process the bounce mailbox, or list what it brought."""
    runtime = _runtime(args)
    if args.bounces_command == "process":
        from pressroom.wiring import bounce_config
        from pressroom.worker.manual import run_bounces_manually
        from pressroom.worker.scheduler import default_jobs, worker_config

        settings = runtime.settings
        bounce_config(settings)  # a config problem is a usage error, not a failed run
        report = run_bounces_manually(
            worker_config(settings), default_jobs(settings), runtime.store, runtime.clock
        )
        print(report.summary())
        for failed in report.failed:
            print(f"unparseable: {failed}", file=sys.stderr)
        return 0
    from pressroom.bounces.listing import bounce_lines, parse_kinds, parse_since

    zone = runtime.settings.site.tz
    lines = bounce_lines(
        runtime.store,
        kinds=parse_kinds(args.kind),
        since=parse_since(args.since, runtime.clock(), zone),
        zone=zone,
    )
    print("\n".join(lines), end="\n" if lines else "")
    print(f"{len(lines)} messages", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- worker


def cmd_run(args: argparse.Namespace) -> int:
    """Run the scheduled worker in the foreground (``--once``: every job once, then exit)."""
    from pressroom.worker import run_once, run_worker
    from pressroom.worker.logs import configure_logging

    configure_logging(args.log_format)
    runtime = _runtime(args)
    if args.once:
        results = run_once(runtime.settings, runtime.store, runtime.clock)
        _wait_for_pings()
        return 1 if any(r.failed or r.store_failed for r in results) else 0  # refused too
    return run_worker(runtime.settings, runtime.store, runtime.clock)


def cmd_status(args: argparse.Namespace) -> int:
    """Show the last runs, the next fire times and delivery counts; exit 1 if a run failed."""
    import json

    from pressroom.worker.scheduler import worker_config
    from pressroom.worker.status import collect_status

    runtime = _runtime(args)
    report = collect_status(worker_config(runtime.settings), runtime.store, runtime.clock())
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 1 if report.failed else 0


# ---------------------------------------------------------------- web


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the feeds, subscribe, confirm, unsubscribe and preferences pages."""
    from pressroom.web import create_app
    from pressroom.web.server import serve

    runtime = _runtime(args)
    serve(
        create_app(runtime.settings, runtime.store, runtime.clock),
        host=args.host,
        port=args.port,
        out=lambda line: print(line, flush=True),
    )
    return 0


# ---------------------------------------------------------------- parser and main


@contextmanager
def _output_file(path: Path, what: str) -> Iterator[TextIO]:
    """``path`` opened for writing text; a disk's refusal is one sentence naming the file
    (and a half-written file is removed)."""
    opened = False
    try:
        with open(path, "w", encoding="utf-8", newline="") as stream:
            opened = True
            yield stream
    except OSError as exc:
        if opened:
            with suppress(OSError):
                path.unlink()
        raise OutputError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None


def _runtime(args: argparse.Namespace) -> Runtime:
    runtime = load_runtime(Path(args.config))
    args.runtime = runtime
    return runtime


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="pressroom",
        description="Publish a news site's articles as RSS/Atom/JSON feeds and e-mail digests.",
    )
    parser.add_argument("--version", action="version", version=f"pressroom {__version__}")
    parser.add_argument(
        "--config",
        default=str(default_config_path()),
        help="the config file (default: $PRESSROOM_CONFIG or ./pressroom.toml)",
    )
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Handler | None, help_text: str, sub: object = commands
    ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)  # type: ignore[attr-defined]
        if handler is not None:  # a group: argparse requires one of its actions
            cmd.set_defaults(handler=handler)
        return cmd  # type: ignore[no-any-return]

    demo = add("demo", cmd_demo, "make a demo site and run everything pressroom does on it")
    demo.add_argument("dir", nargs="?", default="pressroom-demo", help="default ./pressroom-demo")

    init = add("init", cmd_init, "write a commented pressroom.toml and create the store")
    init.add_argument("dir", nargs="?", default=".", help="where to write it (default .)")
    init.add_argument("--force", action="store_true", help="overwrite an existing config")

    config = add("config", None, "work with the configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    add("check", cmd_config_check, "validate the config (exit 2 naming each bad field)", config_sub)

    imp = add("import", cmd_import, "load articles from JSON Lines (upsert by url)")
    imp.add_argument("file", help="a .jsonl file, or - for standard input")
    imp.add_argument("--batch-size", type=int, default=2000, help="rows per commit")

    sources = add("sources", None, "articles from a CMS database ([sources.<name>])")
    sources_sub = sources.add_subparsers(dest="sources_command", required=True, metavar="ACTION")
    sync = add("sync", cmd_sources_sync, "read what changed in the sources, write it", sources_sub)
    sync.add_argument("name", nargs="?", help="one source (default: every source)")
    sync.add_argument(
        "--full", action="store_true", help="read every row; withdraw articles whose rows are gone"
    )

    feeds = add("feeds", None, "build the feed files")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    build = add("build", cmd_feeds_build, "(re)write the feeds that changed", feeds_sub)
    build.add_argument("--force", action="store_true", help="rewrite every feed")

    digest = add("digest", None, "preview or send the e-mail digest")
    digest_sub = digest.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    preview = add("preview", cmd_digest_preview, "render without sending or recording", digest_sub)
    preview.add_argument("--schedule", help="a digest schedule name (default: the first)")
    preview.add_argument("--subscriber", help="render as this subscriber would get it")
    preview.add_argument("--out", help="write the HTML part to this file")
    send = add("send", cmd_digest_send, "select, render and deliver a digest", digest_sub)
    send.add_argument("--schedule", help="a digest schedule name (default: the first)")
    send.add_argument("--dry-run", action="store_true", help="select and render, send nothing")
    send.add_argument("--to", help="send one test copy to this address and record nothing")

    subs = add("subscribers", None, "manage subscribers")
    subs_sub = subs.add_subparsers(dest="subscribers_command", required=True, metavar="ACTION")
    s_add = add("add", cmd_subscribers, "add (or update) an active subscriber", subs_sub)
    s_add.add_argument("email", help="the e-mail address")
    s_add.add_argument("--name", default="", help="the name the digest greets and addresses")
    s_add.add_argument("--sections", default="", help="slugs or names, comma separated")
    s_add.add_argument(
        "--frequency",
        choices=["daily", "weekly"],
        default="daily",
        help="how often the subscriber gets the digest",
    )
    s_add.add_argument("--resubscribe", action="store_true", help=RESUBSCRIBE_HELP)
    s_remove = add("remove", cmd_subscribers, "unsubscribe an address", subs_sub)
    s_remove.add_argument("email", help="the e-mail address")
    s_list = add("list", cmd_subscribers, "list subscribers", subs_sub)
    s_list.add_argument(
        "--status",
        choices=[status.value for status in SubscriberStatus],
        help="only subscribers with this status",
    )
    s_show = add("show", cmd_subscribers, "a subscriber and its consent history", subs_sub)
    s_show.add_argument("email", help="the e-mail address")
    s_import = add("import", cmd_subscribers, "import subscribers from CSV", subs_sub)
    s_import.add_argument("file", help="CSV (email,name,sections,frequency,status); - = stdin")
    s_import.add_argument("--resubscribe", action="store_true", help=RESUBSCRIBE_HELP)
    s_export = add("export", cmd_subscribers, "export subscribers as CSV", subs_sub)
    s_export.add_argument("file", nargs="?", default="-", help="default: standard output")
    s_export.add_argument(
        "--with-consent", action="store_true", help="add the consent history columns"
    )

    bounces = add("bounces", None, "process the bounce mailbox (bounces, complaints, unsubscribes)")
    bounces_sub = bounces.add_subparsers(dest="bounces_command", required=True, metavar="ACTION")
    add("process", cmd_bounces, "read [bounces] source, record and apply each message", bounces_sub)
    b_list = add("list", cmd_bounces, "list processed messages, newest first", bounces_sub)
    b_list.add_argument("--kind", action="append", default=[], help="hard, soft, complaint, "
                        "unsubscribe, auto-reply, unknown (repeat or comma-separate)")  # fmt: skip
    b_list.add_argument("--since", help="a date (2026-12-01) or an age (7d, 12h)")

    run = add("run", cmd_run, "run the scheduled worker in the foreground")
    run.add_argument("--once", action="store_true", help="run every configured job once, exit")
    run.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="log lines as text or JSON"
    )

    serve = add("serve", cmd_serve, "run the web app")
    serve.add_argument("--host", help="override [web] host")
    serve.add_argument("--port", type=int, help="override [web] port")

    status = add("status", cmd_status, "last runs, next fire times, delivery counts")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _setup_logging(debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if not debug:
        noisy_loggers = ("alembic", "aiosmtplib", "apscheduler", "uvicorn.access", "mail.log",
                         "httpx", "httpcore", "flufl.bounce")  # fmt: skip
        for noisy in noisy_loggers:
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # flufl.bounce logs a detector's exception with its traceback; ours is one line
        logging.getLogger("flufl.bounce").addFilter(_without_traceback)


def _without_traceback(record: logging.LogRecord) -> bool:
    """Keep the record, as one line: its exception's type and message, no traceback."""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})".replace("\n", " ")
        record.args = None
        record.exc_info = None
        record.exc_text = None
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Every failure is one sentence on stderr (``--debug`` or ``$PRESSROOM_DEBUG`` re-raises
    what is not a :class:`PressroomError`, for its traceback).
    """
    args = build_parser().parse_args(argv)
    _setup_logging(args.debug)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return exc.exit_code
    except PressroomError as exc:
        print(f"pressroom: error: {one_sentence(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pressroom: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pressroom subscribers export | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if args.debug or os.environ.get("PRESSROOM_DEBUG"):
            raise
        print(f"pressroom: {describe_unexpected(exc)}", file=sys.stderr)
        return 1
    finally:
        runtime = getattr(args, "runtime", None)
        if runtime is not None:
            runtime.close()


def one_sentence(exc: BaseException) -> str:
    """``exc``'s message on one line (a message of several lines is joined with "; ")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def describe_unexpected(exc: Exception) -> str:
    """One line for an error no layer translated: a database or disk error without its SQL,
    anything else as an internal error (a bug to report)."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        reason = str(getattr(exc, "orig", None) or exc).split("[SQL:")[0]
        first = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
        return f"error: the store refused the operation: {first}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"error: {where}{exc.strerror or exc}"
    return (
        f"internal error: {type(exc).__name__}: {one_sentence(exc)} "
        "(run with --debug for the traceback)"
    )
