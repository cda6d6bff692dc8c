"""Shared fixtures: stores on SQLite and PostgreSQL, settings in a temp dir, a fixed clock,
real SMTP servers on 127.0.0.1 and TLS material.

The kits in ``kits/`` (``smtpkit``, ``deliverykit``, ``digestkit``, ...; ``kits/README.md``
says which is for what) are importable from every test folder: ``pythonpath`` in
pyproject.toml.

Two hooks keep the suite fast: ``-n auto`` picks more workers than cores (see
:func:`pytest_xdist_auto_num_workers`), and a test not marked ``slow`` fails when its call takes
longer than the budget (``--slow-budget``, see :func:`pytest_runtest_makereport`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO

import leftovers
import pytest
from smtpkit import Recorder, SmtpServer
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import IntegrityError, ProgrammingError
from support import FakeClock, make_settings

from pressroom.config import Settings
from pressroom.store.engine import Store, open_store

PG_ENV = "PRESSROOM_TEST_PG_URL"
MYSQL_ENV = "PRESSROOM_TEST_MYSQL_URL"  # MariaDB for the [sources] tests (tests/sources/)
METRICS_LISTEN_ENV = "PRESSROOM_WEB__METRICS_LISTEN"

# A test that takes over 2 s is marked `slow`; the check fails an unmarked one only past 5 s
# of its call phase, so our own workers (two per core) do not fail a 1.5 s test, while a test
# that really is slow cannot stay in the fast tier. A machine busier than our workers make
# it (other jobs) stretches the budget by that ratio: see slow_budget().
SLOW_BUDGET = 5.0

# The tests mostly wait (on servers, subprocesses, sleeps): run one after another they keep
# a 2-core machine a third busy. Two workers per core fill the cores; more only add memory
# and the processes and servers each test starts itself.
WORKERS_PER_CORE = 2


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow-budget",
        type=float,
        default=SLOW_BUDGET,
        metavar="SECONDS",
        help=f"fail a test not marked slow whose call takes longer (default {SLOW_BUDGET:g}; "
        "0 turns the check off; it is off under --pdb and --trace)",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: no workers for one test file (or node ids in it), else two per core.

    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still overrides, as with pytest-xdist's own hook.
    """
    override = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if override:
        return int(override)
    files = {arg.split("::")[0] for arg in config.args}
    if len(files) == 1 and Path(next(iter(files))).is_file():
        return 0
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


def slow_budget(config: pytest.Config) -> float:
    """``--slow-budget`` seconds, stretched by the 1-minute load average per core; 0 is off.

    Per core, not per worker: our own workers' daemons (Chromium, Prometheus, Postfix) load
    the machine too, and a CPU-bound test slowed by them is not a slow test (seen: a 0.5 s
    AST scan took 9.5 s beside the browser tests).
    """
    budget: float = config.getoption("slow_budget")
    busy = os.getloadavg()[0] / len(os.sched_getaffinity(0))
    return budget * max(1.0, busy)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fail a passing test not marked ``slow`` whose call phase exceeded :func:`slow_budget`.

    Only the call phase counts: fixture set-up (a PostgreSQL schema, a TLS certificate) is
    shared work whose time depends on what else runs.
    """
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    if report.when != "call" or not report.passed or item.get_closest_marker("slow"):
        return report
    budget = slow_budget(item.config)
    debugging = item.config.getoption("usepdb") or item.config.getoption("trace")
    if budget > 0 and not debugging and report.duration > budget:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} took {report.duration:.1f} s, over the {budget:.1f} s budget of a "
            "test not marked slow: mark it @pytest.mark.slow (or make it faster)"
        )
    return report


_HELD = pytest.StashKey[list[IO[str]]]()
_CALL_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under xdist, a test marked ``alone`` runs while no other worker runs a test.

    Every test holds a shared lock on a file of this run from its set-up to its teardown;
    an ``alone`` test takes it exclusively. A second lock in front (the turnstile) lets the
    ``alone`` test in once the tests running now end, instead of waiting for a moment when
    no worker is in one. The wait is part of set-up, so ``--slow-budget`` does not count it.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        return
    alone = item.get_closest_marker("alone") is not None
    mode = fcntl.LOCK_EX if alone else fcntl.LOCK_SH
    folder = Path(tempfile.gettempdir())
    turnstile = open(folder / f"pressroom-tests-{run}.turnstile", "a")  # noqa: SIM115
    tests = open(folder / f"pressroom-tests-{run}.tests", "a")  # noqa: SIM115
    fcntl.flock(turnstile, mode)
    fcntl.flock(tests, mode)
    if not alone:
        fcntl.flock(turnstile, fcntl.LOCK_UN)
    item.stash[_HELD] = [tests, turnstile]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Let go of what :func:`pytest_runtest_setup` locked (closing a file unlocks it), also
    when a fixture's teardown raises: a lock kept past its test would stop every later
    ``alone`` test, and so the whole run, for good."""
    try:
        return (yield)
    finally:
        for held in item.stash.get(_HELD, []):
            held.close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's PRESSROOM_* settings (but keep the PG test URL)."""
    for name in list(os.environ):
        if name.startswith("PRESSROOM_") and name not in (PG_ENV, MYSQL_ENV):
            monkeypatch.delenv(name)
    # Every `pressroom serve` of parallel tests would take the one default metrics port.
    monkeypatch.setenv(METRICS_LISTEN_ENV, "127.0.0.1:0")


@pytest.fixture(autouse=True)
def _nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """End what the test leaves behind (:mod:`leftovers`): the connections of every engine
    it used, and its child processes still running, with their pipes; a test that passed
    but left a process running fails here. A test that fails before its own cleanup so
    leaves nothing for the garbage collector to report as the next test's error."""
    before = leftovers.children()  # those of wider fixtures, set up already, stay
    with leftovers.engines_used() as engines:
        yield
    for engine in list(engines):
        engine.dispose()
    running = leftovers.end_children(leftovers.children() - before - leftovers.shared_helpers())
    if running and request.node.stash.get(_CALL_PASSED, False):
        pytest.fail(f"the test left {len(running)} process(es) running: {running}")


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    """The PostgreSQL URL from $PRESSROOM_TEST_PG_URL (a database of its own per xdist
    worker), or skip."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need ${PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _worker_database(url, worker) if worker else url


def _worker_database(url: str, worker: str) -> str:
    """``url`` with its database renamed ``<database>_<worker>``, created if missing.

    Schemas keep tests' tables apart, but ``NOTIFY pressroom_articles`` and the migration's
    advisory lock are per database: one database per worker keeps one worker's notifications
    from waking another worker's listener.
    """
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if found.first() is None:
                # Another run may make it in the meantime: then it exists, as wanted.
                with contextlib.suppress(ProgrammingError, IntegrityError):
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_base_url else "?"
    yield f"{pg_base_url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend (the contract suites run on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened, migrated store on each backend."""
    opened = open_store(store_url)
    yield opened
    opened.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An opened, migrated SQLite store (for tests that need only one backend)."""
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.dispose()


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a pressroom.toml with the given text into tmp_path and return its path."""

    def _write(body: str, name: str = "pressroom.toml") -> Path:
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings rooted in tmp_path (store, public/ and outbox/ live there)."""
    return make_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    """A clock standing at :data:`support.NOW` until the test moves it."""
    return FakeClock()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers on 127.0.0.1:0 with a given handler; all stopped afterwards."""
    started: list[SmtpServer] = []

    def start(handler: Recorder | None = None, **options: object) -> SmtpServer:
        server = SmtpServer(handler or Recorder(), **options).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (made with the openssl program)."""
    if shutil.which("openssl") is None:
        pytest.skip("the TLS tests need the openssl program")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """The server side of the self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts only the self-signed certificate."""
    return ssl.create_default_context(cafile=str(tls_files[0]))
