"""The floor: the raw async driver with hand-written SQL (aiosqlite, asyncpg or aiomysql).

One connection held for the whole process (a pool of one), an explicit transaction per
workload, SQL rewritten to the driver's paramstyle once at open, rows returned as the driver
gives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.drivers import Driver, connect
from benchmarks.peers.base import RowPeer
from benchmarks.target import Target
from benchmarks.workloads import PAGE_SIZE

AUTHOR = "SELECT id, name, age, score FROM author"
SQL = {
    "insert": "INSERT INTO author (name, age, score) VALUES (?, ?, ?)",
    "all": AUTHOR,
    "get": AUTHOR + " WHERE id = ?",
    "page": AUTHOR + f" WHERE age = ? ORDER BY name LIMIT {PAGE_SIZE}",
    "update": "UPDATE author SET score = ? WHERE id = ?",
    "joined": "SELECT b.id, b.title, b.pages, b.author_id, a.id, a.name, a.age, a.score"
    " FROM book b JOIN author a ON a.id = b.author_id WHERE b.id <= ? ORDER BY b.id",
    "parents": AUTHOR + " WHERE id <= ? ORDER BY id",
    "children": "SELECT id, title, pages, author_id FROM book WHERE author_id IN ({})",
    "children_pg": "SELECT id, title, pages, author_id FROM book WHERE author_id = ANY(?)",
    "count": "SELECT COUNT(*) FROM book WHERE author_id = ?",
    "exists": "SELECT EXISTS (SELECT 1 FROM book WHERE author_id = ?)",
    "avg": "SELECT AVG(pages) FROM book WHERE author_id = ?",
    "stream": "SELECT id, kind, value FROM event",
}


class RawPeer(RowPeer):
    name = "raw"
    db: Driver

    async def open(self, target: Target) -> None:
        self.db = await connect(target)
        self.sql = {key: self.db.sql(text) for key, text in SQL.items()}

    async def close(self) -> None:
        await self.db.close()

    async def bulk_insert(self, rows: Sequence[tuple[str, int, int]]) -> None:
        async with self.db.transaction():
            await self.db.executemany(self.sql["insert"], rows)

    async def fetch_all(self) -> list[Any]:
        async with self.db.transaction():
            return await self.db.fetch(self.sql["all"])

    async def get_by_pk(self, ids: Sequence[int]) -> list[Any]:
        db, sql = self.db, self.sql["get"]
        async with db.transaction():
            return [await db.fetchone(sql, (i,)) for i in ids]

    async def filter_pages(self, ages: Sequence[int]) -> list[Any]:
        db, sql = self.db, self.sql["page"]
        async with db.transaction():
            return [await db.fetch(sql, (age,)) for age in ages]

    async def update_loop(self, ids: Sequence[int]) -> None:
        db, get, update = self.db, self.sql["get"], self.sql["update"]
        async with db.transaction():
            for i in ids:
                row = await db.fetchone(get, (i,))
                await db.execute(update, (row[3] + 1, i))  # type: ignore[index]

    async def select_related(self, limit: int) -> list[Any]:
        async with self.db.transaction():
            return await self.db.fetch(self.sql["joined"], (limit,))

    async def prefetch_related(self, limit: int) -> list[tuple[Any, list[Any]]]:
        db = self.db
        async with db.transaction():
            parents = await db.fetch(self.sql["parents"], (limit,))
            ids = [row[0] for row in parents]
            if db.backend == "postgres":
                children = await db.fetch(self.sql["children_pg"], (ids,))
            else:
                marks = ", ".join("?" * len(ids))
                children = await db.fetch(db.sql(SQL["children"].format(marks)), ids)
        return self.attach(parents, children)

    async def aggregates(self, author_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
        db, count, exists, avg = self.db, self.sql["count"], self.sql["exists"], self.sql["avg"]
        async with db.transaction():
            return [
                (
                    await db.fetchval(count, (i,)),
                    await db.fetchval(exists, (i,)),
                    await db.fetchval(avg, (i,)),
                )
                for i in author_ids
            ]

    async def stream(self, chunk: int) -> tuple[int, int]:
        rows = total = 0
        async with self.db.transaction():
            async for part in self.db.stream(self.sql["stream"], chunk):
                rows += len(part)
                total += sum(row[2] for row in part)
        return rows, total


Peer = RawPeer
