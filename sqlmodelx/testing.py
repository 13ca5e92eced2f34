"""The sqlmodelx pytest plugin (L6): run each test on every reachable backend.

Loaded automatically (entry point ``pytest11``). It provides:

- ``sx_backend``: parametrises a test over ``sqlite``, ``postgres`` and ``mysql``. SQLite
  always runs; PostgreSQL and MySQL/MariaDB run when ``SQLMODELX_TEST_POSTGRES_URL`` /
  ``SQLMODELX_TEST_MYSQL_URL`` is set (else through testcontainers when a Docker engine
  answers, else they are skipped and the pytest header says why). A URL that is set but
  does not answer is an error, never a skip. Each run works in its own scratch database on
  each server, created at start and dropped at the end.
- ``sx_database``: a :class:`sqlmodelx.Database` on that backend, made the default, with
  every table of ``sx.Model.metadata`` created; rows are deleted after each test.
- ``@pytest.mark.requires("returning")``: skip on a backend that lacks the feature.
- ``assert_num_queries(n)``, ``capture_queries()`` and ``detect_n_plus_one()`` (context
  managers), the ``sx_queries`` / ``sx_n_plus_one`` fixtures and the
  ``@pytest.mark.no_n_plus_one`` marker: count statements, fail on N+1 patterns.
- ``SQLMODELX_REQUIRE_BACKENDS=sqlite,postgres,mysql``: fail the run unless tests really
  ran on each of them (CI sets it, so a backend can never be skipped silently).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from . import _context
from .database import Database, async_url
from .model import Model
from .prefetch import queries_while_streaming

BACKENDS = ("sqlite", "postgres", "mysql")
URL_ENV = {"postgres": "SQLMODELX_TEST_POSTGRES_URL", "mysql": "SQLMODELX_TEST_MYSQL_URL"}
REQUIRE_ENV = "SQLMODELX_REQUIRE_BACKENDS"

#: Features a test can require, decided from SQLAlchemy's dialect flags where they exist.
FEATURES: dict[str, Callable[[sa.Dialect], bool]] = {
    "returning": lambda d: bool(d.insert_returning),
    "update_returning": lambda d: bool(d.update_returning),
    "delete_returning": lambda d: bool(d.delete_returning),
    "distinct_on": lambda d: d.name == "postgresql",
    "select_for_update": lambda d: d.name in ("postgresql", "mysql", "mariadb"),
    "skip_locked": lambda d: d.name in ("postgresql", "mysql", "mariadb"),
    "server_side_cursors": lambda d: bool(d.supports_server_side_cursors),
    "jsonb": lambda d: d.name == "postgresql",
    "json_quoted_keys": lambda d: d.name != "sqlite",
    "native_enum": lambda d: bool(d.supports_native_enum),
    "isolation_levels": lambda d: True,
    "read_committed": lambda d: d.name in ("postgresql", "mysql", "mariadb"),
    "autoincrement_zero_trap": lambda d: d.name in ("mysql", "mariadb"),
    "auto_increment_settings": lambda d: d.name in ("mysql", "mariadb"),
    "queries_while_streaming": queries_while_streaming,
}


@dataclass
class Backend:
    """One database server the tests may use."""

    name: str
    url: sa.URL | None = None
    reason: str = ""
    scratch: str | None = None
    admin_url: sa.URL | None = None
    container: Any = None
    tmpdir: str | None = None
    ran: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    databases: dict[int, Database] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.url is not None


_backends: dict[str, Backend] = {}


# --------------------------------------------------------------------------- scratch DBs


async def _create_scratch(admin_url: sa.URL, backend: str, dbname: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            preparer = conn.dialect.identifier_preparer
            quoted = preparer.quote(dbname)
            if backend == "mysql":
                await conn.exec_driver_sql(
                    f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
            else:
                await conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    finally:
        await engine.dispose()


async def _drop_scratch(admin_url: sa.URL, backend: str, dbname: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(dbname)
            if backend == "postgres":
                await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
            else:
                await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
    finally:
        await engine.dispose()


def _docker_available() -> str | None:
    """None when a Docker engine answers, else the reason it does not."""
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        return "the docker package is not installed"
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        return f"no Docker engine answers ({type(exc).__name__})"
    return None


def _start_container(name: str) -> tuple[sa.URL, Any]:
    if name == "postgres":
        from testcontainers.postgres import PostgresContainer

        container: Any = PostgresContainer("postgres:16-alpine")
        container.start()
        url = make_url(container.get_connection_url()).set(drivername="postgresql")
    else:
        from testcontainers.mysql import MySqlContainer

        container = MySqlContainer("mariadb:11", username="root", password="test")
        container.start()
        url = make_url(container.get_connection_url()).set(drivername="mysql")
    return url, container


def _setup_backends() -> None:
    run_id = f"sx_test_{os.getpid()}_{secrets.token_hex(3)}"
    tmpdir = tempfile.mkdtemp(prefix="sqlmodelx-")
    _backends["sqlite"] = Backend(
        "sqlite", url=async_url(f"sqlite:///{Path(tmpdir) / 'test.db'}"), tmpdir=tmpdir
    )
    docker_reason: str | None = "not checked"
    for name in ("postgres", "mysql"):
        env = URL_ENV[name]
        raw = os.environ.get(env, "").strip()
        backend = Backend(name)
        _backends[name] = backend
        if raw:
            admin = async_url(raw)
        else:
            if docker_reason == "not checked":
                docker_reason = _docker_available()
            if docker_reason is not None:
                backend.reason = f"{env} is not set and {docker_reason}"
                continue
            plain, backend.container = _start_container(name)
            admin = async_url(plain)
        try:
            asyncio.run(asyncio.wait_for(_create_scratch(admin, name, run_id), 30))
        except Exception as exc:
            hidden = admin.render_as_string(hide_password=True)
            raise pytest.UsageError(
                f"sqlmodelx: {env} is set to {hidden} but that server does not answer "
                f"or refused to create a scratch database: {type(exc).__name__}: {exc}"
            ) from exc
        backend.admin_url = admin
        backend.scratch = run_id
        backend.url = admin.set(database=run_id)


def _teardown_backends() -> None:
    for backend in _backends.values():
        if backend.scratch and backend.admin_url is not None:
            with contextlib.suppress(Exception):  # best effort at exit
                asyncio.run(_drop_scratch(backend.admin_url, backend.name, backend.scratch))
        if backend.container is not None:
            backend.container.stop()
        if backend.tmpdir:
            for f in Path(backend.tmpdir).glob("*"):
                f.unlink(missing_ok=True)
            Path(backend.tmpdir).rmdir()
    _backends.clear()


# --------------------------------------------------------------------------- pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(feature): skip where the backend lacks it")
    config.addinivalue_line("markers", "no_n_plus_one(threshold=3): fail on an N+1 query pattern")
    if getattr(config, "workerinput", None) is not None or _backends:
        return
    _setup_backends()
    required = [b.strip() for b in os.environ.get(REQUIRE_ENV, "").split(",") if b.strip()]
    for name in required:
        backend = _backends.get(name)
        if backend is None:
            raise pytest.UsageError(f"sqlmodelx: {REQUIRE_ENV} names unknown backend {name!r}")
        if not backend.available:
            raise pytest.UsageError(
                f"sqlmodelx: {REQUIRE_ENV} requires {name}, which is unavailable: {backend.reason}"
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    _teardown_backends()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = ["sqlmodelx backends:"]
    for backend in _backends.values():
        if backend.available:
            assert backend.url is not None
            lines.append(f"  {backend.name}: {backend.url.render_as_string(hide_password=True)}")
        else:
            lines.append(f"  {backend.name}: SKIPPED ({backend.reason})")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sx_backend" not in metafunc.fixturenames:
        return
    params = []
    for name in BACKENDS:
        backend = _backends.get(name)
        marks = []
        if backend is None or not backend.available:
            reason = backend.reason if backend is not None else "plugin not configured"
            marks.append(pytest.mark.skip(reason=f"{name}: {reason}"))
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("sx_backend", params, indirect=True)


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get("sx_backend")
    return value if isinstance(value, str) else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    outcome.get_result().sx_backend = _backend_of(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = getattr(report, "sx_backend", None)
    if name is None or name not in _backends:
        return
    backend = _backends[name]
    if report.when == "call":
        backend.ran += 1
        if report.passed:
            backend.passed += 1
        elif report.failed:
            backend.failed += 1
    elif report.skipped and report.when == "setup":
        backend.skipped += 1
    elif report.failed:
        backend.failed += 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    terminalreporter.section("sqlmodelx backends")
    for backend in _backends.values():
        terminalreporter.write_line(
            f"{backend.name}: {backend.passed} passed, {backend.failed} failed, "
            f"{backend.skipped} skipped"
            + ("" if backend.available else f" (unavailable: {backend.reason})")
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    required = [b.strip() for b in os.environ.get(REQUIRE_ENV, "").split(",") if b.strip()]
    selected = session.config.getoption("keyword", "") or session.config.getoption("markexpr", "")
    if selected or exitstatus not in (0,):
        return
    missing = [n for n in required if n in _backends and _backends[n].passed == 0]
    if missing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"sqlmodelx: no test passed on required backend(s): {', '.join(missing)}", red=True)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def sx_backend(request: pytest.FixtureRequest) -> Backend:
    """The backend this test instance runs on (``sqlite``, ``postgres`` or ``mysql``)."""
    backend = _backends[request.param]
    return backend


def backend_supports(dialect: sa.Dialect, feature: str) -> bool:
    check = FEATURES.get(feature)
    if check is None:
        raise ValueError(f"unknown feature {feature!r}; known: {', '.join(sorted(FEATURES))}")
    return check(dialect)


async def _clear_tables(db: Database, metadata: sa.MetaData) -> None:
    tables = [t for t in reversed(metadata.sorted_tables)]
    async with db.engine.begin() as conn:
        if db.dialect.name in ("mysql", "mariadb"):
            await conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        existing = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        for table in tables:
            if table.name in existing:
                await conn.execute(table.delete())
        if db.dialect.name in ("mysql", "mariadb"):
            await conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")


_created: dict[tuple[str, int], frozenset[str]] = {}


@pytest.fixture
async def sx_database(sx_backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A Database on this test's backend: the default database, tables created, rows cleared after."""
    loop_id = id(asyncio.get_running_loop())
    assert sx_backend.url is not None
    db = sx_backend.databases.get(loop_id)
    if db is None:
        db = Database(sx_backend.url, name=f"sx_test_{sx_backend.name}", default=False)
        sx_backend.databases.clear()
        sx_backend.databases[loop_id] = db
    metadata = Model.metadata
    key = (sx_backend.name, loop_id)
    tables = frozenset(metadata.tables)
    if _created.get(key) != tables:
        await db.create_all(metadata)
        _created[key] = tables
    for marker in request.node.iter_markers("requires"):
        for feature in marker.args:
            if not backend_supports(db.dialect, feature):
                pytest.skip(f"{sx_backend.name} lacks {feature}")
    previous = _context.default_database()
    db.make_default()
    try:
        yield db
    finally:
        if previous is not None:
            _context.set_default(previous)
        await _clear_tables(db, metadata)



# --------------------------------------------------------------------------- query counting
#
# `assert_num_queries(n)`, `capture_queries()` and the N+1 detector (relations, issue 6).
# Every statement any engine sends through a cursor is recorded while a capture is open;
# the statements an engine sends on its own to open and end transactions and savepoints
# (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) and SQLite PRAGMAs are not counted.

_TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.I)
_PLACEHOLDER = r"(?:\?|%s|\$\d+|%\(\w+\)s|:\w+)"
_IN_LIST = re.compile(rf"\(\s*{_PLACEHOLDER}(?:\s*,\s*{_PLACEHOLDER})*\s*\)")
_NUMBERED = re.compile(r"\$\d+")
_STRING = re.compile(r"'(?:[^']|'')*'")
_SPACE = re.compile(r"\s+")


@dataclass
class CapturedQuery:
    """One statement as the driver received it."""

    statement: str
    parameters: Any
    executemany: bool
    #: Rows it returned (None when the driver does not say or it returned none).
    rows: int | None = None

    @property
    def shape(self) -> str:
        """The statement with values, placeholder numbers and IN-list lengths taken out."""
        text = _SPACE.sub(" ", self.statement).strip()
        text = _STRING.sub("'?'", text)
        text = _IN_LIST.sub("(...)", text)
        return _NUMBERED.sub("$?", text)

    @property
    def is_select(self) -> bool:
        return self.statement.lstrip().upper().startswith(("SELECT", "WITH"))

    @property
    def in_list_size(self) -> int:
        """Placeholders in the longest IN list: large for a batched (prefetch) query."""
        sizes = [m.group(0).count(",") + 1 for m in _IN_LIST.finditer(self.statement)]
        return max(sizes, default=0)


class QueryLog:
    """The statements sent while a capture was open (``len(log)``, ``log.statements``)."""

    def __init__(self, engine: Any = None) -> None:
        self.queries: list[CapturedQuery] = []
        self._engine = engine

    def __len__(self) -> int:
        return len(self.queries)

    def __iter__(self) -> Any:
        return iter(self.queries)

    @property
    def statements(self) -> list[str]:
        return [q.statement for q in self.queries]

    @property
    def selects(self) -> list[CapturedQuery]:
        return [q for q in self.queries if q.is_select]

    def describe(self) -> str:
        return "\n".join(f"  {i}. {q.statement.strip()}" for i, q in enumerate(self.queries, 1)) or "  (none)"


_logs: list[QueryLog] = []


def _before_cursor_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if not _logs or _TRANSACTION_CONTROL.match(statement):
        return
    query = CapturedQuery(statement, parameters, executemany)
    recorded = False
    for log in _logs:
        # engine.execution_options(...) engines (sessions use them) share the pool
        if log._engine is None or conn.engine.pool is log._engine.pool:
            log.queries.append(query)
            recorded = True
    if recorded and context is not None:
        context._sx_captured = query


def _after_cursor_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    query = getattr(context, "_sx_captured", None)
    if query is None:
        return
    rows = getattr(cursor, "_rows", None)
    if rows is not None:
        query.rows = len(rows)
    elif getattr(cursor, "description", None) and getattr(cursor, "rowcount", -1) >= 0:
        query.rows = cursor.rowcount


_LISTENERS = (("before_cursor_execute", _before_cursor_execute), ("after_cursor_execute", _after_cursor_execute))


@contextmanager
def capture_queries(database: Any = None) -> Iterator[QueryLog]:
    """Record every statement sent inside the block (on ``database`` only, if given).

    The listeners are on SQLAlchemy's cursor events only while a capture is open, so every
    statement goes through SQLAlchemy then (sqlmodelx's direct driver path steps aside
    whenever such a listener exists) and is counted.
    """
    engine = None if database is None else database.engine.sync_engine
    log = QueryLog(engine)
    if not _logs:
        for name, listener in _LISTENERS:
            sa.event.listen(sa.engine.Engine, name, listener)
    _logs.append(log)
    try:
        yield log
    finally:
        _logs.remove(log)
        if not _logs:
            for name, listener in _LISTENERS:
                sa.event.remove(sa.engine.Engine, name, listener)


@contextmanager
def assert_num_queries(expected: int, database: Any = None) -> Iterator[QueryLog]:
    """Fail unless exactly ``expected`` statements are sent inside the block.

    ``with assert_num_queries(2): await Author.objects.prefetch_related("books")``; works in
    async code (nothing is awaited on entry or exit). The failure lists the statements.
    """
    with capture_queries(database) as log:
        yield log
    if len(log) != expected:
        raise AssertionError(f"expected {expected} queries, {len(log)} were sent:\n{log.describe()}")


class NPlusOneError(AssertionError):
    """One query shape ran once per row of another query: load the relation eagerly."""


def find_n_plus_one(queries: list[CapturedQuery], threshold: int = 3) -> list[str]:
    """Descriptions of the N+1 patterns in ``queries``; empty when there are none.

    A SELECT shape is reported when it ran ``k >= threshold`` times after a query of
    another shape that returned at least ``k`` rows (so it may have run once per row), and
    its runs were single lookups, not batches: none carried an IN list of more than one
    value (a chunked prefetch is a few runs with long IN lists).
    """
    runs: dict[str, list[int]] = {}
    for i, query in enumerate(queries):
        if query.is_select:
            runs.setdefault(query.shape, []).append(i)
    found = []
    for shape, positions in runs.items():
        k = len(positions)
        if k < threshold or max(queries[i].in_list_size for i in positions) > 1:
            continue
        first = positions[0]
        parents = [
            q for q in queries[:first]
            if q.shape != shape and q.is_select and (q.rows is None or q.rows >= k)
        ]
        if parents:
            parent = parents[-1]
            rows = "?" if parent.rows is None else parent.rows
            found.append(
                f"N+1: this query ran {k} times:\n    {queries[first].statement.strip()}\n"
                f"  after this one returned {rows} rows:\n    {parent.statement.strip()}\n"
                f"  load the relation with select_related() or prefetch_related() instead"
            )
    return found


@contextmanager
def detect_n_plus_one(threshold: int = 3, database: Any = None) -> Iterator[QueryLog]:
    """Raise :class:`NPlusOneError` if the block runs one query shape once per row of another."""
    with capture_queries(database) as log:
        yield log
    problems = find_n_plus_one(log.queries, threshold)
    if problems:
        raise NPlusOneError("\n".join(problems))


@pytest.fixture
def sx_queries() -> Iterator[QueryLog]:
    """Every statement the test sends, for asserting on counts and SQL."""
    with capture_queries() as log:
        yield log


@pytest.fixture
def sx_n_plus_one() -> Iterator[QueryLog]:
    """Fail the test (at teardown) if it runs one query shape once per row of another."""
    with capture_queries() as log:
        yield log
    problems = find_n_plus_one(log.queries)
    if problems:
        raise NPlusOneError("\n".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """``@pytest.mark.no_n_plus_one(threshold=3)``: the test fails on an N+1 pattern."""
    marker = item.get_closest_marker("no_n_plus_one")
    if marker is None:
        return (yield)
    with detect_n_plus_one(*marker.args, **marker.kwargs):
        return (yield)


# --------------------------------------------------------------------------- transactional session
#
# `sx_session` (sessions, issue 4): SQLAlchemy's "join a session into an external
# transaction" recipe, on every backend. See docs/sessions.md, "Testing".


@pytest.fixture
async def sx_session(sx_database: Database) -> AsyncIterator[Any]:
    """A session inside an outer transaction that is rolled back after the test.

    It is the current session of the test, so ``Model.objects`` use it. Code under test
    that opens its own ``db.session()`` joins it, and even its ``commit()`` only releases
    a savepoint (``join_transaction_mode="create_savepoint"``): nothing the test writes
    survives it. All work shares one connection; test concurrent sessions with
    ``sx_database`` instead.
    """
    async with sx_database.test_transaction() as session:
        yield session
