"""Repeated statements on the driver connection SQLAlchemy has checked out (L5).

SQLAlchemy's ``Connection.execute`` costs about 40-50 us per statement on top of the
driver even when the compiled form is cached: an execution context, parameter processing,
a cursor wrapper, a ``CursorResult`` and a ``Row`` per row. For the statements sqlmodelx
repeats most (the per-shape templates of ``_shape.py`` and the flush's keyed UPDATE), this
module learns, from one ordinary execution through SQLAlchemy, exactly what SQLAlchemy sent
to the driver: the SQL string, the positional parameters after the bind processors, and the
result processors it applied to each column. Later executions of the same statement on the
same dialect send that SQL with their own parameters straight to the driver connection of
the ``Connection`` (asyncpg, aiomysql, or sqlmodelx's one-hop aiosqlite adapter), inside
the transaction SQLAlchemy already began on it, and apply the same processors.

A statement is learnt only if rebuilding the parameters of that first execution gives the
exact values SQLAlchemy sent (types included); otherwise it always takes SQLAlchemy's
path. SQLAlchemy's path is also taken, per statement, whenever bypassing it could be seen:

- a listener is registered for ``before_execute``, ``after_execute``,
  ``before_cursor_execute`` or ``after_cursor_execute`` on the engine or connection
  (tracing, query logging, ``sqlmodelx.testing.capture_queries``): they see every statement;
- the engine echoes SQL, the connection has execution options other than isolation and
  sqlmodelx's own, or is closed or invalidated;
- SQLAlchemy has not begun a transaction on the connection (its ``begin`` events must run
  first), except for the one-statement reads outside a session, which need none (unless a
  ``begin`` listener other than sqlmodelx's own would run for them);
- the dialect has a ``do_execute`` listener;
- the driver adapter is not one of the three above.

Errors go through SQLAlchemy's own handling (``Connection._handle_dbapi_exception``): the
same exception classes, ``handle_error`` events and disconnect invalidation. On
PostgreSQL the asyncpg transaction is started lazily exactly as SQLAlchemy's adapter does,
and prepared statements come from the adapter's own cache (with its invalidation after
DDL). ``enabled = False`` turns the path off (the tests compare both paths this way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import await_, greenlet_spawn

from ._sqlite_driver import OneHopConnection, run_on_thread

__all__ = ["enabled", "fetch", "learnt", "rowcount_sync"]

#: False: every statement goes through ``Connection.execute`` (a debugging aid; the tests flip it).
enabled = True
#: Statements sent on the driver directly so far (the tests check the path is taken).
sent = 0
#: Learnt statements kept; beyond it the table is cleared and statements are learnt again.
MAX_PLANS = 4096
#: Execution options that do not change what a statement sends.
_SAFE_OPTIONS = frozenset({"isolation_level", "postgresql_readonly", "postgresql_deferrable", "logging_token"})
#: ``begin`` listeners a one-statement read outside a session may skip: sqlmodelx's own
#: (database.py adds them), which only prepare write or read-only transactions.
skippable_begin_listeners: set[Callable[..., Any]] = set()
_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")

_Rows = Sequence[Sequence[Any]]


class _Plan:
    """What SQLAlchemy sent for one statement on one dialect, and how to send it again."""

    __slots__ = ("statement", "dialect", "sql", "binds", "process", "run", "metadata")

    def __init__(
        self,
        statement: Any,
        dialect: Any,
        sql: str,
        binds: tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...],
        process: Callable[[Any], Any] | None,
        run: Callable[..., Any],
        metadata: Any = None,
    ) -> None:
        self.statement = statement
        self.dialect = dialect
        self.sql = sql
        self.binds = binds
        self.process = process
        self.run = run
        #: The first result's metadata (reads): what ``Row`` objects need for names and ``_mapping``.
        self.metadata = metadata

    def arguments(self, parameters: dict[str, Any]) -> tuple[Any, ...]:
        """The positional values the driver receives: the caller's after the bind processors;
        values fixed in the statement (a slice's LIMIT) as SQLAlchemy sent them first."""
        out = []
        for name, bind, constant in self.binds:
            if name is None:
                out.append(constant)
            else:
                value = parameters[name]
                out.append(value if bind is None else bind(value))
        return tuple(out)


#: (id(statement), id(dialect), parameter names) -> a plan, or None: never direct.
_plans: dict[tuple[int, int, Any], _Plan | None] = {}


def learnt(statement: Any, dialect: Any, names: Any = None) -> bool:
    """Whether ``statement`` runs directly on ``dialect`` (tests and benchmarks ask)."""
    plan = _plans.get((id(statement), id(dialect), names))
    return plan is not None and plan.statement is statement


async def fetch(
    conn: AsyncConnection, statement: Any, parameters: dict[str, Any], *, single: bool = False, rows: bool = False
) -> _Rows:
    """The rows of ``statement`` (a reusable template) with ``parameters``.

    Rows are sequences indexed by position with SQLAlchemy's result processing applied;
    ``rows``: SQLAlchemy ``Row`` objects (names, ``_mapping``), as ``Result.all()`` gives.
    ``single``: the caller runs one read outside any transaction (no ``begin`` needed).
    """
    sync = conn.sync_connection
    if sync is None:
        return (await conn.execute(statement, parameters)).all()
    ready = _ready(sync, statement, parameters, None, single)
    if ready is not None:
        plan, adapted, arguments = ready
        try:
            got, _ = await plan.run(adapted, plan, arguments)
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's handling re-raises it
            await greenlet_spawn(_raise_as_sqlalchemy, sync, adapted, plan.sql, arguments, error)
            raise  # not reached
        found: _Rows = got if plan.process is None else plan.process(got)
        if rows:
            metadata = plan.metadata
            return [Row(metadata, None, metadata._key_to_index, row) for row in found]
        return found
    result = await conn.execute(statement, parameters)
    if enabled:
        _learn(sync, statement, parameters, result, None, reads=True)
    return result.all()


def rowcount_sync(conn: Connection, statement: Any, parameters: dict[str, Any]) -> int:
    """Run a write ``statement`` from synchronous code (the flush) and return its rowcount."""
    names = tuple(parameters)
    ready = _ready(conn, statement, parameters, names, False)
    if ready is not None:
        plan, adapted, arguments = ready
        try:
            _, count = await_(plan.run(adapted, plan, arguments))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's handling re-raises it
            _raise_as_sqlalchemy(conn, adapted, plan.sql, arguments, error)
        return int(count)
    result = conn.execute(statement, parameters)
    if enabled:
        _learn(conn, statement, parameters, result, names, reads=False)
    return int(result.rowcount)


def _ready(
    sync: Connection, statement: Any, parameters: dict[str, Any], names: Any, single: bool
) -> tuple[_Plan, Any, tuple[Any, ...]] | None:
    """``(plan, driver connection, arguments)`` when ``statement`` may go directly now."""
    global sent
    if not enabled:
        return None
    plan = _plans.get((id(statement), id(sync.dialect), names))
    if plan is None or plan.statement is not statement:
        return None
    adapted = _driver_connection(sync, single)
    if adapted is None:
        return None
    try:
        arguments = plan.arguments(parameters)
    except Exception:  # noqa: BLE001 - a bind processor refused a value: SQLAlchemy raises it as its own
        return None
    sent += 1
    return plan, adapted, arguments


def _driver_connection(sync: Connection, single: bool) -> Any:
    """The adapted DBAPI connection when this statement may bypass ``Connection.execute``."""
    if sync._echo or sync.invalidated:
        return None
    fairy = sync._dbapi_connection
    if fairy is None:
        return None
    # Outside a transaction SQLAlchemy would begin one first, firing its ``begin`` listeners.
    if not sync.in_transaction() and (
        not single or any(fn not in skippable_begin_listeners for fn in sync.dispatch.begin)
    ):
        return None
    options = sync._execution_options
    if options:
        for key in options:
            if key not in _SAFE_OPTIONS and not key.startswith("sqlmodelx_"):
                return None
    events = sync.dispatch
    if events.before_execute or events.after_execute or events.before_cursor_execute or events.after_cursor_execute:
        return None
    if sync.dialect.dispatch.do_execute:
        return None
    return fairy.dbapi_connection


def _raise_as_sqlalchemy(sync: Connection, adapted: Any, sql: str, arguments: Any, error: Exception) -> None:
    """Translate a driver error as the adapter does, then let SQLAlchemy wrap and raise it."""
    try:
        adapted._handle_exception(error)
    except Exception as translated:  # noqa: BLE001 - handed to SQLAlchemy, which raises
        _forget_stale_statements(sync.dialect, translated)
        sync._handle_dbapi_exception(translated, sql, arguments, None, None)
    raise error  # _handle_exception always raises; kept for the type checker


def _forget_stale_statements(dialect: Any, error: Exception) -> None:
    """What asyncpg's execution context does on these errors (the direct path has none): mark
    every connection's prepared statements stale, so the next execution prepares again."""
    dbapi = dialect.loaded_dbapi
    stale = tuple(
        getattr(dbapi, name) for name in ("InvalidCachedStatementError", "InternalServerError") if hasattr(dbapi, name)
    )
    if stale and isinstance(error, stale) and hasattr(dialect, "_invalidate_schema_cache"):
        dialect._invalidate_schema_cache()


def _learn(sync: Connection, statement: Any, parameters: dict[str, Any], result: Any, names: Any, *, reads: bool) -> None:
    dialect = sync.dialect
    key = (id(statement), id(dialect), names)
    if key in _plans:
        known = _plans[key]
        if known is None or known.statement is statement:
            return
    if _driver_connection(sync, True) is None:
        return  # an event or option may have changed what was sent: learn another time
    if len(_plans) >= MAX_PLANS:
        _plans.clear()
    _plans[key] = _plan_from(statement, dialect, parameters, result, reads)


def _plan_from(statement: Any, dialect: Any, parameters: dict[str, Any], result: Any, reads: bool) -> _Plan | None:
    """A plan reproducing what SQLAlchemy sent for ``result``; None when it cannot be exact."""
    context: Any = getattr(result, "context", None)
    compiled: Any = getattr(context, "compiled", None)
    if context is None or compiled is None or context.executemany or compiled.positiontup is None:
        return None
    adapted = context.root_connection._dbapi_connection.dbapi_connection
    run = _runner_for(adapted)
    if run is None or context.statement != compiled.string:
        return None
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # a Python default/onupdate: SQLAlchemy computes a new value each execution
    if any(bind.callable is not None for bind in compiled.binds.values()):
        return None  # a bindparam(callable_=...): its value is taken at each execution
    processors = compiled._bind_processors
    given = tuple(context.parameters[0]) if context.parameters else ()
    if len(given) != len(compiled.positiontup):
        return None
    binds = tuple(
        (name, processors.get(name), None) if name in parameters else (None, None, value)
        for name, value in zip(compiled.positiontup, given, strict=True)
    )
    process = None
    if reads:
        metadata = result._metadata
        if getattr(metadata, "_tuplefilter", True) is not None:
            return None
        process = _row_processor(metadata._processors)
    plan = _Plan(statement, dialect, compiled.string, binds, process, run, result._metadata if reads else None)
    try:
        rebuilt = plan.arguments(parameters)
    except Exception:  # noqa: BLE001 - not reproducible: SQLAlchemy's path only
        return None
    if rebuilt != given or [type(v) for v in rebuilt] != [type(v) for v in given]:
        return None
    return plan


def _row_processor(processors: list[Any]) -> Callable[[Any], Any] | None:
    """A function converting driver rows as SQLAlchemy's result processors do (None: nothing to do)."""
    if not any(processors):
        return None
    items = ", ".join(f"p{i}(r[{i}])" if p is not None else f"r[{i}]" for i, p in enumerate(processors))
    source = f"def process(rows):\n    return [({items},) for r in rows]\n"
    namespace: dict[str, Any] = {f"p{i}": p for i, p in enumerate(processors) if p is not None}
    exec(compile(source, "<sqlmodelx row processor>", "exec"), namespace)  # noqa: S102
    return namespace["process"]  # type: ignore[no-any-return]


def _runner_for(adapted: Any) -> Callable[..., Any] | None:
    if isinstance(adapted, OneHopConnection):
        return _run_sqlite
    module = type(adapted).__module__
    if module.endswith(".asyncpg") and hasattr(adapted, "_prepare") and hasattr(adapted, "_start_transaction"):
        return _run_asyncpg
    if module.endswith(".aiomysql") and hasattr(adapted, "_execute_mutex"):
        return _run_aiomysql
    return None


async def _run_sqlite(adapted: Any, plan: _Plan, arguments: tuple[Any, ...]) -> tuple[list[Any], int]:
    _, rows, count, _ = await run_on_thread(adapted, plan.sql, arguments, False)
    return rows, count


async def _run_asyncpg(adapted: Any, plan: _Plan, arguments: tuple[Any, ...]) -> tuple[list[Any], int]:
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()  # lazily, as SQLAlchemy's cursor does (no-op in autocommit)
        prepared, _ = await adapted._prepare(plan.sql, plan.dialect._invalidate_schema_cache_asof)
        rows = await prepared.fetch(*arguments)
        status = _STATUS.match(prepared.get_statusmsg() or "")
    return rows, int(status.group(1)) if status else -1


async def _run_aiomysql(adapted: Any, plan: _Plan, arguments: tuple[Any, ...]) -> tuple[list[Any], int]:
    async with adapted._execute_mutex:
        cursor = await adapted._connection.cursor(adapted.dbapi.Cursor)
        try:
            await cursor.execute(plan.sql, arguments)
            rows = await cursor.fetchall() if cursor.description else []
            count = cursor.rowcount
        finally:
            await cursor.close()
    return rows, count
