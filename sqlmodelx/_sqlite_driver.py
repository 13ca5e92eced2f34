"""A leaner aiosqlite adapter: one thread hop per statement instead of four (L5).

SQLAlchemy's aiosqlite adapter creates a cursor, executes, fetches and closes it, each as
a separate trip to aiosqlite's worker thread (~65 us each on this class of machine). This
adapter runs all four in one function on the worker thread. Dialect, compiled cache, type
processing, pool, events, transactions and savepoints are SQLAlchemy's, unchanged;
server-side cursors (``iterator()``) keep the stock adapter. It relies on aiosqlite's
``Connection._execute`` and ``_conn``; when they are missing the stock adapter is used.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_


def _execute_on_thread(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def run_on_thread(adapt: Any, operation: str, parameters: Any, many: bool) -> tuple[Any, list[Any], int, int | None]:
    """One trip to aiosqlite's worker thread, under the adapter's mutex: ``(description,
    rows, rowcount, lastrowid)`` of ``operation``."""
    connection = adapt._connection
    async with adapt._execute_mutex:
        return await connection._execute(_execute_on_thread, connection._conn, operation, parameters, many)  # type: ignore[no-any-return]


class OneHopCursor:
    """The DBAPI cursor SQLAlchemy sees; every execute is one trip to the worker thread."""

    server_side = False
    __slots__ = ("_adapt_connection", "description", "rowcount", "lastrowid", "arraysize", "_rows", "_pos")

    def __init__(self, adapt_connection: OneHopConnection) -> None:
        self._adapt_connection = adapt_connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []
        self._pos = 0

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        result = await run_on_thread(self._adapt_connection, operation, parameters, many)
        self.description, self._rows, self.rowcount, self.lastrowid = result
        self._pos = 0

    def execute(self, operation: str, parameters: Any = None) -> None:
        try:
            await_(self._run(operation, parameters, False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: str, seq_of_parameters: Any) -> None:
        try:
            await_(self._run(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows = []
        self._pos = 0

    def fetchone(self) -> Any:
        if self._pos < len(self._rows):
            row = self._rows[self._pos]
            self._pos += 1
            return row
        return None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        start = self._pos
        self._pos = min(start + size, len(self._rows))
        return self._rows[start : self._pos]

    def fetchall(self) -> Sequence[Any]:
        rows = self._rows[self._pos :] if self._pos else self._rows
        self._rows = []
        self._pos = 0
        return rows

    def __iter__(self) -> Any:
        while self._pos < len(self._rows):
            yield self.fetchone()

    def setinputsizes(self, *sizes: Any) -> None:
        return None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite connection adapter whose client-side cursors make one hop."""

    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module object handed to SQLAlchemy's aiosqlite dialect (``module=``)."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        stock = super().connect(*arg, **kw)
        return OneHopConnection(self, stock._connection)


def one_hop_dbapi() -> OneHopDBAPI | None:
    """The lean adapter, or None when this aiosqlite lacks the internals it uses."""
    import aiosqlite

    if not (hasattr(aiosqlite.Connection, "_execute") and hasattr(aiosqlite.Connection, "_conn")):
        return None
    return OneHopDBAPI(aiosqlite, sqlite3)
