"""One thin adapter per raw async driver: aiosqlite, asyncpg, aiomysql.

The raw peer (the floor every ratio is taken against) and the harness's own set-up and checks
both talk to the database through these. SQL is written once with `?` placeholders;
`Driver.sql()` rewrites it to the driver's paramstyle. Call it once, outside any timed loop.

Each adapter does the least a careful hand-written program would: aiosqlite makes one thread
hop per statement (`execute_fetchall`), asyncpg uses its prepared-statement cache, aiomysql
keeps one cursor and batches `executemany` into multi-row INSERTs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from benchmarks.target import Target

Row = Sequence[Any]
Params = Sequence[Any]


class Driver:
    """The operations the raw peer and the harness need, on one connection."""

    backend: str

    def sql(self, text: str) -> str:
        return text

    async def fetch(self, sql: str, args: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def fetchone(self, sql: str, args: Params = ()) -> Row | None:
        rows = await self.fetch(sql, args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, args: Params = ()) -> Any:
        row = await self.fetchone(sql, args)
        return None if row is None else row[0]

    async def execute(self, sql: str, args: Params = ()) -> None:
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        raise NotImplementedError

    async def begin(self) -> None:
        await self.execute("BEGIN")

    async def commit(self) -> None:
        await self.execute("COMMIT")

    async def rollback(self) -> None:
        await self.execute("ROLLBACK")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.begin()
        try:
            yield
        except BaseException:
            await self.rollback()
            raise
        await self.commit()

    def stream(self, sql: str, chunk: int) -> AsyncIterator[list[Row]]:
        """Server-side (or cursor-side) streaming, `chunk` rows at a time; call in a transaction."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SqliteDriver(Driver):
    backend = "sqlite"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, args: Params = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, args))

    async def execute(self, sql: str, args: Params = ()) -> None:
        await self.conn.execute_fetchall(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self.conn.executemany(sql, rows)

    async def stream(self, sql: str, chunk: int) -> AsyncIterator[list[Row]]:
        async with self.conn.execute(sql) as cursor:
            while rows := await cursor.fetchmany(chunk):
                yield rows

    async def close(self) -> None:
        await self.conn.close()


_QMARK = re.compile(r"\?")


class PostgresDriver(Driver):
    backend = "postgres"

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._tx: Any = None

    def sql(self, text: str) -> str:
        counter = iter(range(1, 10_000_000))
        return _QMARK.sub(lambda _: f"${next(counter)}", text)

    async def fetch(self, sql: str, args: Params = ()) -> list[Row]:
        rows: list[Row] = await self.conn.fetch(sql, *args)
        return rows

    async def fetchone(self, sql: str, args: Params = ()) -> Row | None:
        row: Row | None = await self.conn.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, args: Params = ()) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, args: Params = ()) -> None:
        await self.conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self.conn.executemany(sql, rows)

    async def begin(self) -> None:
        self._tx = self.conn.transaction()
        await self._tx.start()

    async def commit(self) -> None:
        await self._tx.commit()

    async def rollback(self) -> None:
        await self._tx.rollback()

    async def stream(self, sql: str, chunk: int) -> AsyncIterator[list[Row]]:
        cursor = await self.conn.cursor(sql)
        while rows := await cursor.fetch(chunk):
            yield rows

    async def close(self) -> None:
        await self.conn.close()


class MysqlDriver(Driver):
    backend = "mysql"

    def __init__(self, conn: Any, cursor: Any) -> None:
        self.conn = conn
        self.cursor = cursor

    def sql(self, text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    async def fetch(self, sql: str, args: Params = ()) -> list[Row]:
        await self.cursor.execute(sql, args)
        return list(await self.cursor.fetchall())

    async def fetchone(self, sql: str, args: Params = ()) -> Row | None:
        await self.cursor.execute(sql, args)
        row: Row | None = await self.cursor.fetchone()
        return row

    async def execute(self, sql: str, args: Params = ()) -> None:
        await self.cursor.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self.cursor.executemany(sql, rows)

    async def begin(self) -> None:
        await self.conn.begin()

    async def commit(self) -> None:
        await self.conn.commit()

    async def rollback(self) -> None:
        await self.conn.rollback()

    async def stream(self, sql: str, chunk: int) -> AsyncIterator[list[Row]]:
        import aiomysql  # type: ignore[import-untyped]

        cursor = await self.conn.cursor(aiomysql.SSCursor)
        try:
            await cursor.execute(sql, ())
            while rows := await cursor.fetchmany(chunk):
                yield rows
        finally:
            await cursor.close()

    async def close(self) -> None:
        await self.cursor.close()
        self.conn.close()


async def connect(target: Target) -> Driver:
    """One raw connection to `target`, in autocommit mode outside explicit transactions."""
    if target.backend == "sqlite":
        import aiosqlite

        conn = await aiosqlite.connect(target.path, isolation_level=None)
        return SqliteDriver(conn)
    if target.backend == "postgres":
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password or None,
            database=target.database,
        )
        return PostgresDriver(conn)
    if target.backend == "mysql":
        import aiomysql

        conn = await aiomysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            db=target.database or None,
            autocommit=True,
        )
        return MysqlDriver(conn, await conn.cursor())
    raise ValueError(f"unknown backend {target.backend!r}")
