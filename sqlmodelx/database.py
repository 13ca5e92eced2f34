"""Databases: engines with the right async driver and per-backend settings (L5).

``sx.Database("postgresql://...")`` picks the async driver, applies the settings each
backend needs to behave like the others (UTC sessions, SQLite savepoints and foreign
keys), and registers itself so queries outside a session can find it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from . import _context
from ._sqlite_driver import one_hop_dbapi
from .exc import ConfigurationError, DatabaseUnavailableError
from .model import Model
from .session import Session

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
        **engine_options: Any,
    ) -> None:
        if (url is None) == (engine is None):
            raise ConfigurationError("Database() takes a URL or engine=, exactly one of them")
        if engine is None:
            assert url is not None
            engine = _create_engine(async_url(url), connect_timeout, engine_options)
        elif not isinstance(engine, AsyncEngine):
            raise ConfigurationError(
                f"engine= must be a sqlalchemy AsyncEngine (create_async_engine), not {type(engine).__name__}"
            )
        self.engine = engine
        self.dialect: sa.Dialect = engine.dialect
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
        async with self.engine.begin() as conn:
            await conn.run_sync(md.create_all)

    async def drop_all(self, metadata: sa.MetaData | None = None) -> None:
        md = metadata if metadata is not None else Model.metadata
        async with self.engine.begin() as conn:
            await conn.run_sync(md.drop_all)

    async def dispose(self) -> None:
        """Close every pooled connection; the Database stays usable (it reconnects)."""
        await self.engine.dispose()

    async def close(self) -> None:
        """Dispose of the engine and forget this database."""
        await self.engine.dispose()
        _context.unregister_database(self)

    # -- sessions ------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """One unit of work, bound to the current task: commit on success, rollback on error.

        Inside an open session of the same database, a nested ``db.session()`` joins it
        (the outer block commits); use ``s.begin_nested()`` for a savepoint.
        """
        current = _context.current_session.get()
        if current is not None and not current.closed and current.database is self:
            yield current
            return
        session = Session(AsyncSession(self.engine, expire_on_commit=False), database=self)
        token = _context.current_session.set(session)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            _context.current_session.reset(token)
            await session.close()

    # -- runner protocol: each call in its own short transaction (autocommit) -----------

    async def fetch_objects(self, qs: QuerySet[Any]) -> list[Any]:
        async with self.session() as s:
            objects = await s.fetch_objects(qs)
        return objects

    async def fetch_scalar(self, statement: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(statement)).scalar()

    async def fetch_all(self, statement: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement)).all())

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        async with self.engine.begin() as conn:
            return await conn.execute(statement, parameters)

    async def insert_objects(self, objects: list[Any]) -> None:
        async with self.session() as s:
            await s.insert_objects(objects)

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
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN")


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
