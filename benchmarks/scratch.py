"""The scratch database: created and dropped by the harness, filled with known data.

Schema (the same tables for every peer; each peer maps its own models onto them):

    author(id, name, age, score)           10,000 rows; name order == id order
    book(id, title, pages, author_id FK)   authors 1..500 have 10 books each
    event(id, kind, value)                 1,000,000 small rows for the streaming workload

Everything here runs on the harness's own raw connection, never inside a timer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

from benchmarks.drivers import Driver, connect
from benchmarks.target import SCRATCH_DB, Target

_DDL = {
    "sqlite": [
        "CREATE TABLE author (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL,"
        " age INTEGER NOT NULL, score INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE book (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL,"
        " pages INTEGER NOT NULL, author_id INTEGER NOT NULL REFERENCES author (id))",
        "CREATE TABLE event (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, value INTEGER NOT NULL)",
    ],
    "postgres": [
        "CREATE TABLE author (id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL,"
        " age INTEGER NOT NULL, score INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE book (id SERIAL PRIMARY KEY, title VARCHAR(200) NOT NULL,"
        " pages INTEGER NOT NULL, author_id INTEGER NOT NULL REFERENCES author (id))",
        "CREATE TABLE event (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, value INTEGER NOT NULL)",
    ],
    "mysql": [
        "CREATE TABLE author (id INTEGER AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,"
        " age INTEGER NOT NULL, score INTEGER NOT NULL DEFAULT 0) ENGINE=InnoDB",
        "CREATE TABLE book (id INTEGER AUTO_INCREMENT PRIMARY KEY, title VARCHAR(200) NOT NULL,"
        " pages INTEGER NOT NULL, author_id INTEGER NOT NULL,"
        " FOREIGN KEY (author_id) REFERENCES author (id)) ENGINE=InnoDB",
        "CREATE TABLE event (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL,"
        " value INTEGER NOT NULL) ENGINE=InnoDB",
    ],
}
_INDEXES = [
    "CREATE INDEX ix_author_age_name ON author (age, name)",
    "CREATE INDEX ix_book_author_id ON book (author_id)",
]

_EMPTY = {
    "sqlite": ["DELETE FROM book", "DELETE FROM author"],
    "postgres": ["TRUNCATE book, author RESTART IDENTITY"],
    "mysql": ["DELETE FROM book", "DELETE FROM author", "ALTER TABLE author AUTO_INCREMENT = 1"],
}

# n = 0 .. 10**k - 1 from a cross join of digits: portable, and fast on all three servers.
_DIGITS = (
    "(SELECT 0 AS d UNION ALL " + " UNION ALL ".join(f"SELECT {i}" for i in range(1, 10)) + ")"
)


def event_value(n: int) -> int:
    return (n * 31) % 1000


def _event_insert(rows: int) -> str:
    places = max(1, len(str(rows - 1)))
    number = " + ".join(f"{10**i} * t{i}.d" for i in range(places))
    tables = ", ".join(f"{_DIGITS} t{i}" for i in range(places))
    return (
        "INSERT INTO event (id, kind, value)"
        f" SELECT n + 1, n % 7, (n * 31) % 1000 FROM (SELECT {number} AS n FROM {tables}) s"
        f" WHERE n < {rows}"
    )


async def create(backend: str, server_url: str) -> Target:
    """Make an empty scratch database on the backend and return where it is."""
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="sx_bench_")
        return Target(backend="sqlite", path=os.path.join(directory, f"{SCRATCH_DB}.db"))
    target = Target.from_server_url(backend, server_url)
    server = await connect(target.with_database("postgres" if backend == "postgres" else ""))
    try:
        await _drop_database(server, target)
        suffix = " CHARACTER SET utf8mb4" if backend == "mysql" else ""
        await server.execute(f"CREATE DATABASE {SCRATCH_DB}{suffix}")
    finally:
        await server.close()
    return target


async def drop(target: Target) -> None:
    if target.backend == "sqlite":
        shutil.rmtree(os.path.dirname(target.path), ignore_errors=True)
        return
    server = await connect(target.with_database("postgres" if target.backend == "postgres" else ""))
    try:
        await _drop_database(server, target)
    finally:
        await server.close()


async def _drop_database(server: Driver, target: Target) -> None:
    force = " WITH (FORCE)" if target.backend == "postgres" else ""
    with warnings.catch_warnings():  # MariaDB warns when IF EXISTS finds nothing
        warnings.simplefilter("ignore")
        await server.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}{force}")


async def create_schema(target: Target, event_rows: int) -> None:
    """Tables and indexes; `event` is filled here once, since no workload changes it."""
    admin = await connect(target)
    try:
        if target.backend == "sqlite":
            # Persistent in the file; set for every peer, since Tortoise would set it on first use.
            await admin.execute("PRAGMA journal_mode=WAL")
        for statement in [*_DDL[target.backend], *_INDEXES]:
            await admin.execute(statement)
        if event_rows:
            async with admin.transaction():
                await admin.execute(admin.sql(_event_insert(event_rows)))
            if target.backend == "postgres":
                await admin.execute("ANALYZE")
    finally:
        await admin.close()


class Admin:
    """The harness's own connection: puts the tables into a known state and reads them back."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.state = "unknown"  # "empty" | "seeded" | "unknown"

    @classmethod
    async def open(cls, target: Target) -> Admin:
        return cls(await connect(target))

    async def close(self) -> None:
        await self.driver.close()

    async def _run(self, statements: Sequence[str]) -> None:
        async with self.driver.transaction():
            for statement in statements:
                await self.driver.execute(self.driver.sql(statement))

    async def empty(self) -> None:
        await self._run(_EMPTY[self.driver.backend])
        self.state = "empty"

    async def seed(
        self, authors: Sequence[tuple[Any, ...]], books: Sequence[tuple[Any, ...]]
    ) -> None:
        """Ensure exactly the seed data, with every score back at 0 (W5 raises some)."""
        if self.state == "seeded":
            await self._run(["UPDATE author SET score = 0 WHERE score <> 0"])
            return
        await self.empty()
        drv = self.driver
        async with drv.transaction():
            await drv.executemany(
                drv.sql("INSERT INTO author (id, name, age, score) VALUES (?, ?, ?, ?)"), authors
            )
            await drv.executemany(
                drv.sql("INSERT INTO book (id, title, pages, author_id) VALUES (?, ?, ?, ?)"), books
            )
        if drv.backend == "postgres":
            await drv.execute("ANALYZE author")
            await drv.execute("ANALYZE book")
        self.state = "seeded"

    async def authors(self) -> list[tuple[Any, ...]]:
        rows = await self.driver.fetch("SELECT id, name, age, score FROM author ORDER BY id")
        return [tuple(row) for row in rows]
