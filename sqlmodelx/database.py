"""Databases: engines with the right async driver and per-backend settings (L5).

``sx.Database("postgresql://...")`` picks the async driver, applies the settings each
backend needs to behave like the others (UTC sessions, SQLite savepoints and foreign
keys), and registers itself so queries outside a session can find it.

A Database also routes work: sessions and writes go to the primary engine; reads outside
a write transaction go to the read replicas, round robin, except for a short while after
the current task wrote (read-your-writes). See ``docs/sessions.md``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from . import _context, _direct, registry
from ._sqlite_driver import one_hop_dbapi
from .exc import (
    ConfigurationError,
    DatabaseUnavailableError,
    NotSupportedError,
    SessionError,
    SqlModelXError,
)
from .hydrate import rows_loader
from .model import Model
from .session import Session, _has_eager, _is_plain_read, _rows, _scalar, _shielded, _SyncSession

if TYPE_CHECKING:
    from .query import QuerySet

__all__ = ["Database"]

#: Plain URL schemes and the async driver each one gets.
_ASYNC_DRIVERS: dict[str, tuple[str, str]] = {
    "sqlite": ("sqlite+aiosqlite", ""),
    "postgresql": ("postgresql+asyncpg", "postgres"),
    "postgres": ("postgresql+asyncpg", "postgres"),
    "mysql": ("mysql+aiomysql", "mysql"),
    "mariadb": ("mysql+aiomysql", "mysql"),
}
_KNOWN_ASYNC = {
    "sqlite+aiosqlite": "",
    "postgresql+asyncpg": "postgres",
    "mysql+aiomysql": "mysql",
    "mariadb+aiomysql": "mysql",
    "mysql+asyncmy": "mysql",
    "mariadb+asyncmy": "mysql",
}
_DRIVER_MODULE = {"postgres": "asyncpg", "mysql": "aiomysql", "": "aiosqlite"}
_names = itertools.count(1)

_STANDARD_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")
#: Isolation levels a session may ask for, by backend. PostgreSQL has no READ UNCOMMITTED
#: (asyncpg refuses it); SQLite transactions are always serializable.
_ISOLATION_LEVELS: dict[str, tuple[str, ...]] = {
    "postgresql": _STANDARD_LEVELS[1:],
    "mysql": _STANDARD_LEVELS,
    "mariadb": _STANDARD_LEVELS,
    "sqlite": ("SERIALIZABLE",),
}
_BACKEND_LABEL = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "mariadb": "MySQL/MariaDB", "sqlite": "SQLite"}
#: SQLite's busy timeout (seconds): how long a writer waits for another writer's lock.
_SQLITE_BUSY_TIMEOUT = 30.0

#: Per task (context): database id -> until when its reads stay on the primary after a write.
_recent_writes: ContextVar[dict[int, float] | None] = ContextVar("sqlmodelx_recent_writes", default=None)


def async_url(url: str | sa.URL) -> sa.URL:
    """The URL with its async driver: ``postgresql://`` -> ``postgresql+asyncpg://``."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {url!r} ({exc})") from None
    scheme = parsed.drivername
    if scheme in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[scheme][0])
    elif scheme not in _KNOWN_ASYNC:
        supported = "sqlite://, postgresql://, mysql://, mariadb:// (or their +aiosqlite/+asyncpg/+aiomysql forms)"
        raise ConfigurationError(
            f"unsupported database URL scheme {scheme!r}; sqlmodelx needs an async driver: {supported}"
        )
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def _extra_for(drivername: str) -> str:
    return _KNOWN_ASYNC.get(drivername, "")


class Database:
    """One database: an ``AsyncEngine`` plus sessions. See ``docs/backends.md``.

    The first Database created becomes the default one that queries outside a session
    use; pass ``default=True`` (or call :meth:`make_default`) to choose another.
    """

    _sx_is_database = True

    def __init__(
        self,
        url: str | sa.URL | None = None,
        *,
        engine: AsyncEngine | None = None,
        name: str | None = None,
        default: bool | None = None,
        connect_timeout: float = 10.0,
        replicas: Sequence[str | sa.URL | AsyncEngine] = (),
        sticky_for: float = 1.0,
        **engine_options: Any,
    ) -> None:
        if (url is None) == (engine is None):
            raise ConfigurationError("Database() takes a URL or engine=, exactly one of them")
        if engine is None:
            assert url is not None
            engine = _create_engine(async_url(url), connect_timeout, dict(engine_options))
            self._own_engine = True
        elif not isinstance(engine, AsyncEngine):
            raise ConfigurationError(
                f"engine= must be a sqlalchemy AsyncEngine (create_async_engine), not {type(engine).__name__}"
            )
        else:
            self._own_engine = False
            hooked = event.contains(engine.sync_engine, "begin", _mysql_on_begin)
            if engine.dialect.name in ("mysql", "mariadb") and not hooked:
                event.listen(engine.sync_engine, "begin", _mysql_on_begin)  # read-only sessions
        self.engine = engine
        if not event.contains(engine.sync_engine, "handle_error", _surface_own_errors):
            event.listen(engine.sync_engine, "handle_error", _surface_own_errors)
        self.dialect: sa.Dialect = engine.dialect
        #: Read replicas (AsyncEngines), used round robin for reads outside a write transaction.
        self.replicas: tuple[AsyncEngine, ...] = tuple(
            _replica_engine(r, connect_timeout, engine_options) for r in replicas
        )
        #: After a write outside a session, the task's reads stay on the primary this long (s).
        self.sticky_for = sticky_for
        self._round_robin = itertools.count()
        self._binds: dict[tuple[str | None, bool], AsyncEngine] = {}
        #: The connection of ``test_transaction()``: everything runs inside its transaction.
        self._pinned: AsyncConnection | None = None
        #: engine -> the same engine for one-statement reads outside a session (``_reading``).
        self._single_read_engines: dict[AsyncEngine, AsyncEngine] = {}
        self.name = name or ("default" if not _context._databases.get("default") else f"db{next(_names)}")
        _context.register_database(self.name, self, default=default)

    def __repr__(self) -> str:
        return f"<sx.Database {self.name!r} {self.engine.url.render_as_string(hide_password=True)}>"

    @property
    def url(self) -> sa.URL:
        return self.engine.url

    def make_default(self) -> Database:
        """Make queries outside a session run on this database."""
        _context.set_default(self)
        return self

    # -- schema --------------------------------------------------------------------------

    async def create_all(self, metadata: sa.MetaData | None = None) -> None:
        """CREATE every table of the models (development and tests; production uses migrations)."""
        md = metadata if metadata is not None else Model.metadata
        registry.configure()  # relations (issue 6): a target never defined fails here, not in DDL
        async with self.engine.begin() as conn:
            await conn.run_sync(md.create_all)

    async def drop_all(self, metadata: sa.MetaData | None = None) -> None:
        md = metadata if metadata is not None else Model.metadata
        async with self.engine.begin() as conn:
            await conn.run_sync(md.drop_all)

    async def dispose(self) -> None:
        """Close every pooled connection; the Database stays usable (it reconnects)."""
        await self.engine.dispose()
        for replica in self.replicas:
            await replica.dispose()

    async def close(self) -> None:
        """Dispose of the engines and forget this database."""
        await self.dispose()
        _context.unregister_database(self)

    @property
    def isolation_levels(self) -> tuple[str, ...]:
        """The isolation levels ``session(isolation_level=...)`` accepts on this backend."""
        return _ISOLATION_LEVELS.get(self.dialect.name, ())

    # -- sessions ------------------------------------------------------------------------

    @asynccontextmanager
    async def session(
        self, *, isolation_level: str | None = None, read_only: bool = False, join: bool = True
    ) -> AsyncIterator[Session]:
        """One unit of work, bound to the current task: commit on success, rollback on error.

        Inside an open session of the same database (in this task, or the task that
        spawned it), a nested ``db.session()`` joins it: same transaction, same objects,
        and the outermost block commits. ``join=False`` opens an independent session
        (its own connection and transaction) instead; ``s.begin_nested()`` gives a
        savepoint. ``isolation_level`` ("READ COMMITTED", "REPEATABLE READ",
        "SERIALIZABLE", ...) and ``read_only`` apply to this session's transactions;
        a level the backend lacks raises ``NotSupportedError``.

        Cancelling the task rolls back and releases the connection before the
        cancellation propagates.
        """
        current = _context.current_session.get()
        if join and current is not None and not current.closed and current.database is self:
            wanted = (_normal_level(self, isolation_level), read_only)
            if (isolation_level is not None or read_only) and wanted != current._options:
                raise SessionError(
                    f"already inside a session of database {self.name!r} with isolation_level="
                    f"{current._options[0]!r}, read_only={current._options[1]}; a nested "
                    f"db.session() joins it and cannot change them: pass join=False for an "
                    f"independent session"
                )
            yield current
            await current.flush()
            return
        session = self._open_session(isolation_level, read_only)
        previous = _context.current_session.get()
        _context.current_session.set(session)
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            await _shielded(session._abort(exc))
            raise
        finally:
            _context.current_session.set(previous)
            await _shielded(session.close())

    def _open_session(self, isolation_level: str | None, read_only: bool) -> Session:
        if self._pinned is not None:
            sa_session = AsyncSession(
                bind=self._pinned,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
                sync_session_class=_SyncSession,
            )
            session = Session(sa_session, database=self, _owns=True, _primary_only=True)
        else:
            bind = self._bind_for(isolation_level, read_only)
            sa_session = AsyncSession(bind, expire_on_commit=False, sync_session_class=_SyncSession)
            session = Session(sa_session, database=self, _owns=True, _primary_only=isolation_level is not None)
        session._options = (_normal_level(self, isolation_level), read_only)
        return session

    def _bind_for(self, isolation_level: str | None, read_only: bool) -> AsyncEngine:
        """The primary engine with this session kind's execution options (cached)."""
        level = _normal_level(self, isolation_level)
        key = (level, read_only)
        bind = self._binds.get(key)
        if bind is not None:
            return bind
        backend = self.dialect.name
        label = _BACKEND_LABEL.get(backend, backend)
        options: dict[str, Any] = {}
        if level is not None:
            supported = self.isolation_levels
            if level not in supported:
                extra = " (SQLite transactions are always serializable)" if backend == "sqlite" else ""
                raise NotSupportedError(
                    f"{label} does not support isolation level {level!r}{extra}; "
                    f"it supports: {', '.join(supported) or 'none'}"
                )
            if backend != "sqlite":
                options["isolation_level"] = level
        if read_only:
            if backend == "postgresql":
                options["postgresql_readonly"] = True
            elif backend in ("mysql", "mariadb", "sqlite") and (self._own_engine or backend != "sqlite"):
                options["sqlmodelx_read_only"] = True
            else:
                raise NotSupportedError(
                    f"read-only sessions on {label} need a Database created from a URL "
                    f"(sqlmodelx sets the engine up), not engine=..."
                )
        if backend == "sqlite" and not read_only and self._own_engine:
            # Writers take the write lock at BEGIN and wait for it (busy timeout), instead
            # of failing with "database is locked" when a read turns into a write (NOTES 11).
            options["sqlmodelx_begin"] = "IMMEDIATE"
        bind = self.engine.execution_options(**options) if options else self.engine
        self._binds[key] = bind
        return bind

    @asynccontextmanager
    async def test_transaction(self) -> AsyncIterator[Session]:
        """Everything on this database, in any task, runs inside one outer transaction
        that is rolled back at the end, even when the code inside commits.

        SQLAlchemy's "join a session into an external transaction" recipe: each session
        opened meanwhile is bound to the outer connection with
        ``join_transaction_mode="create_savepoint"``, so its commit releases a savepoint and
        its rollback rolls back to it. Yields a session bound as the current one. All work
        shares one connection: run concurrent sessions in a test with ``sx_database``.
        """
        if self._pinned is not None:
            raise SessionError(f"test_transaction() is already active on database {self.name!r}")
        conn = await self._bind_for(None, False).connect()
        try:
            outer = await conn.begin()
            self._pinned = conn
            session = self._open_session(None, False)
            previous = _context.current_session.get()
            _context.current_session.set(session)
            try:
                yield session
            finally:
                _context.current_session.set(previous)
                self._pinned = None
                await _shielded(session.close())
                await _shielded(outer.rollback())
        finally:
            await _shielded(conn.close())

    # -- routing -------------------------------------------------------------------------

    def _next_replica(self) -> AsyncEngine:
        return self.replicas[next(self._round_robin) % len(self.replicas)]

    def use_primary(self) -> None:
        """This task's reads go to the primary for ``sticky_for`` seconds (a write is coming)."""
        self._note_write()

    def _note_write(self) -> None:
        """The current task wrote: its reads outside a session stay on the primary a while."""
        if self.replicas:
            marks = dict(_recent_writes.get() or {})
            marks[id(self)] = time.monotonic() + self.sticky_for
            _recent_writes.set(marks)

    def _wrote_recently(self) -> bool:
        """Whether the current task wrote here less than ``sticky_for`` seconds ago."""
        marks = _recent_writes.get()
        until = marks.get(id(self)) if marks else None
        return until is not None and time.monotonic() < until

    def _read_engine(self) -> AsyncEngine:
        if self.replicas and not self._wrote_recently():
            return self._next_replica()
        return self.engine

    @asynccontextmanager
    async def _reading(self, *, single: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for one read outside a session: a replica, the primary, or the
        connection of ``test_transaction()``.

        ``single``: the block runs one SELECT, which needs no transaction around it (it is
        atomic by itself): on PostgreSQL it runs in autocommit (no BEGIN and ROLLBACK round
        trips; asyncpg switches that locally), on SQLite without our BEGIN (the driver is
        in autocommit already, NOTES 5). MySQL/MariaDB keep their implicit transaction:
        switching aiomysql's autocommit would cost a round trip each way.
        """
        if self._pinned is not None:
            yield self._pinned
            return
        engine = self._read_engine()
        if single:
            engine = self._single_read_engines.get(engine) or self._single_read_engine(engine)
        async with engine.connect() as conn:
            yield conn

    def _single_read_engine(self, engine: AsyncEngine) -> AsyncEngine:
        """``engine`` with the execution options of a one-statement read (cached per engine)."""
        backend = engine.dialect.name
        if backend == "postgresql" and engine.dialect.driver == "asyncpg":
            single = engine.execution_options(isolation_level="AUTOCOMMIT")
        elif backend == "sqlite" and event.contains(engine.sync_engine, "begin", _sqlite_on_begin):
            single = engine.execution_options(sqlmodelx_begin="NONE")
        else:
            single = engine
        self._single_read_engines[engine] = single
        return single

    # -- runner protocol: each call in its own short transaction (autocommit) -----------

    async def fetch_objects(self, qs: QuerySet[Any]) -> list[Any]:
        """Objects outside a session: detached (no identity map), read from a replica if any."""
        if _has_eager(qs):
            async with self.session() as s:
                return await s.fetch_objects(qs)
        statement, parameters = qs._executable(self.dialect)
        async with self._reading(single=True) as conn:
            rows = await _rows(conn, statement, parameters, single=self._pinned is None)
        plan = qs._plan
        # queries (issue 5): only()/defer() select fewer fields; annotations follow them
        return qs._attach_extras(rows_loader(plan, qs._load_fields)(rows, None, None), rows)

    async def stream_rows(self, statement: Any, chunk_size: int) -> AsyncIterator[Any]:
        """Rows of ``statement`` in lists of ``chunk_size``, through a server-side cursor (``QuerySet.iterator``)."""
        async with self._reading() as conn:
            result = await conn.stream(statement.execution_options(yield_per=chunk_size))
            try:
                async for rows in result.partitions(chunk_size):
                    yield rows
            finally:
                await result.close()

    async def stream_objects(self, qs: QuerySet[Any], chunk_size: int) -> AsyncIterator[list[Any]]:
        """``qs``'s objects in lists of ``chunk_size``, detached: no session (``QuerySet.iterator``)."""
        if _has_eager(qs):
            async with self.session() as s:
                async for objects in s.stream_objects(qs, chunk_size):
                    yield objects
            return
        loader = rows_loader(qs._plan, qs._load_fields)
        async for rows in self.stream_rows(qs.statement, chunk_size):
            yield qs._attach_extras(loader(rows, None, None), rows)

    async def fetch_scalar(self, statement: Any, parameters: dict[str, Any] | None = None) -> Any:
        single = _is_plain_read(statement)
        async with self._reading(single=single) as conn:
            return await _scalar(conn, statement, parameters, single=single and self._pinned is None)

    async def fetch_all(self, statement: Any, parameters: dict[str, Any] | None = None) -> list[Any]:
        single = _is_plain_read(statement)
        async with self._reading(single=single) as conn:
            return list(await _rows(conn, statement, parameters, single=single and self._pinned is None, rows=True))

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if _is_plain_read(statement) and self._pinned is None:
            async with self._reading(single=True) as conn:
                return await conn.execute(statement, parameters)
        async with self.session() as s:
            return await s.execute(statement, parameters)

    async def insert_objects(self, objects: list[Any]) -> None:
        async with self.session() as s:
            await s.insert_objects(objects)

    async def bulk_insert(self, objects: list[Any], **options: Any) -> None:
        async with self.session() as s:
            await s.bulk_insert(objects, **options)

    async def bulk_update_objects(self, objects: list[Any], fields: tuple[str, ...], batch_size: int | None) -> int:
        async with self.session() as s:
            return await s.bulk_update_objects(objects, fields, batch_size)

    async def save_object(self, obj: Any) -> None:
        async with self.session() as s:
            await s.save_object(obj)

    async def delete_object(self, obj: Any) -> None:
        async with self.session() as s:
            await s.delete_object(obj)

    async def refresh_object(self, obj: Any) -> None:
        async with self.session() as s:
            await s.refresh_object(obj)

    async def load_relations(self, objects: list[Any], relations: Any) -> None:
        async with self.session() as s:
            await s.load_relations(objects, relations)


def _normal_level(database: Database, level: str | None) -> str | None:
    if level is None:
        return None
    normal = " ".join(str(level).upper().replace("_", " ").split())
    if normal not in _STANDARD_LEVELS:
        raise ValueError(
            f"unknown isolation level {level!r}; use one of {', '.join(_STANDARD_LEVELS)} "
            f"({_BACKEND_LABEL.get(database.dialect.name, database.dialect.name)} supports "
            f"{', '.join(database.isolation_levels)})"
        )
    return normal


def _replica_engine(replica: str | sa.URL | AsyncEngine, connect_timeout: float, options: dict[str, Any]) -> AsyncEngine:
    """A replica from a URL (same options as the primary) or an engine given as is."""
    if isinstance(replica, AsyncEngine):
        return replica
    if isinstance(replica, (str, sa.URL)):
        return _create_engine(async_url(replica), connect_timeout, dict(options))
    raise ConfigurationError(
        f"replicas= takes URLs or AsyncEngines, not {type(replica).__name__}"
    )


def _surface_own_errors(context: Any) -> BaseException | None:
    """A sqlmodelx error raised while binding values (e.g. NotSupportedError from a type)
    reaches the caller as itself, not wrapped in SQLAlchemy's StatementError."""
    original = context.original_exception
    if isinstance(original, SqlModelXError):
        return original
    return None


def _create_engine(url: sa.URL, connect_timeout: float, options: dict[str, Any]) -> AsyncEngine:
    backend = url.get_backend_name()
    connect_args = dict(options.pop("connect_args", {}))
    if backend == "postgresql":
        settings = dict(connect_args.get("server_settings", {}))
        settings.setdefault("timezone", "UTC")
        connect_args["server_settings"] = settings
        connect_args.setdefault("timeout", connect_timeout)
    elif backend in ("mysql", "mariadb"):
        connect_args.setdefault("connect_timeout", connect_timeout)
    elif backend == "sqlite":
        connect_args.setdefault("timeout", _SQLITE_BUSY_TIMEOUT)
    if backend == "sqlite" and "module" not in options and options.pop("lean_sqlite", True):
        lean = one_hop_dbapi()
        if lean is not None:
            options["module"] = lean
    try:
        engine = create_async_engine(url, connect_args=connect_args, **options)
    except ImportError as exc:
        extra = _extra_for(url.drivername)
        module = _DRIVER_MODULE.get(extra, url.drivername)
        raise ConfigurationError(
            f"the driver for {url.drivername} is not installed ({exc.name or module}); "
            f"install it with: pip install 'sqlmodelx[{extra}]'"
        ) from exc
    except TypeError as exc:
        raise ConfigurationError(f"bad engine option for {url.drivername}: {exc}") from exc
    sync_engine = engine.sync_engine
    if backend == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_on_connect)
        event.listen(sync_engine, "begin", _sqlite_on_begin)
    elif backend in ("mysql", "mariadb"):
        event.listen(sync_engine, "begin", _mysql_on_begin)
    event.listen(sync_engine, "do_connect", _connect_or_explain)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when a transaction starts, so SAVEPOINT as the
    # first statement is still inside BEGIN (NOTES.md section 5); then enforce FKs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.create_function("py_lower", 1, _py_lower, deterministic=True)


def _py_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_on_begin(conn: sa.Connection) -> None:
    """BEGIN ourselves (NOTES 5): IMMEDIATE for writer sessions; ``query_only`` for read-only."""
    options = conn.get_execution_options()
    read_only = bool(options.get("sqlmodelx_read_only"))
    if conn.info.get("sqlmodelx_query_only", False) is not read_only:  # before BEGIN IMMEDIATE
        conn.exec_driver_sql("PRAGMA query_only = 1" if read_only else "PRAGMA query_only = 0")
        conn.info["sqlmodelx_query_only"] = read_only
    begin = options.get("sqlmodelx_begin")
    if options.get("isolation_level") != "AUTOCOMMIT" and begin != "NONE":  # NONE: a single read
        conn.exec_driver_sql("BEGIN IMMEDIATE" if begin == "IMMEDIATE" else "BEGIN")


def _mysql_on_begin(conn: sa.Connection) -> None:
    """A read-only session: the transaction about to start is READ ONLY (MySQL/MariaDB)."""
    if conn.get_execution_options().get("sqlmodelx_read_only"):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


_direct.skippable_begin_listeners.update((_sqlite_on_begin, _mysql_on_begin))  # no-ops for a single read


def _connect_or_explain(dialect: sa.Dialect, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
    """Connect; if the server does not answer, say which host and port was tried."""
    if dialect.driver == "aiomysql" and "async_creator_fn" not in cparams:
        # aiomysql's connect_timeout covers only the TCP handshake; a server that accepts
        # and never greets would hang forever, so bound the whole connect.
        cparams = {**cparams, "async_creator_fn": _bounded_aiomysql_connect}
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception as exc:
        host = cparams.get("host")
        if host is None:
            raise
        port = cparams.get("port") or {"postgresql": 5432, "mysql": 3306}.get(dialect.name, "?")
        message = str(exc).strip() or type(exc).__name__
        if _is_unreachable(exc):
            raise DatabaseUnavailableError(
                f"cannot reach the {dialect.name} server at {host}:{port}: {message}"
            ) from exc
        raise


async def _bounded_aiomysql_connect(*args: Any, **kwargs: Any) -> Any:
    import asyncio

    import aiomysql  # type: ignore[import-untyped]

    timeout = kwargs.get("connect_timeout") or 10
    return await asyncio.wait_for(aiomysql.connect(*args, **kwargs), timeout)


def _is_unreachable(exc: BaseException) -> bool:
    import asyncio

    if isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    code = getattr(exc, "args", (None,))[0] if getattr(exc, "args", None) else None
    return code in (2002, 2003, 2005, 2006, 2013)  # MySQL client "can't connect" codes
