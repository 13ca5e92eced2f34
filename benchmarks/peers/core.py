"""SQLAlchemy Core (async): Table objects, statements built once with `bindparam`.

This is Core written the way an expert writes a hot path: statements are module constants, so
each call goes straight to SQLAlchemy's compiled cache. It is the yardstick sqlmodelx's own
statement caching aims at (issue 8: within 1.3x of Core on PostgreSQL and MariaDB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.peers.base import RowPeer
from benchmarks.target import Target
from benchmarks.workloads import PAGE_SIZE

metadata = sa.MetaData()
author = sa.Table(
    "author",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("age", sa.Integer, nullable=False),
    sa.Column("score", sa.Integer, nullable=False, default=0),
)
book = sa.Table(
    "book",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("pages", sa.Integer, nullable=False),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id"), nullable=False),
)
event = sa.Table(
    "event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("value", sa.Integer, nullable=False),
)

INSERT = author.insert()
ALL = sa.select(author)
GET = sa.select(author).where(author.c.id == sa.bindparam("pk"))
PAGE = (
    sa.select(author)
    .where(author.c.age == sa.bindparam("age"))
    .order_by(author.c.name)
    .limit(PAGE_SIZE)
)
UPDATE = author.update().where(author.c.id == sa.bindparam("pk")).values(score=sa.bindparam("new"))
JOINED = (
    sa.select(book, author)
    .join_from(book, author)
    .where(book.c.id <= sa.bindparam("limit"))
    .order_by(book.c.id)
)
PARENTS = sa.select(author).where(author.c.id <= sa.bindparam("limit")).order_by(author.c.id)
CHILDREN = sa.select(book).where(book.c.author_id.in_(sa.bindparam("ids", expanding=True)))
COUNT = sa.select(sa.func.count()).select_from(book).where(book.c.author_id == sa.bindparam("a"))
EXISTS = sa.select(sa.exists().where(book.c.author_id == sa.bindparam("a")))
AVG = sa.select(sa.func.avg(book.c.pages)).where(book.c.author_id == sa.bindparam("a"))
STREAM = sa.select(event)


class CorePeer(RowPeer):
    name = "core"
    engine: AsyncEngine

    async def open(self, target: Target) -> None:
        self.engine = create_async_engine(target.sqlalchemy_url)

    async def close(self) -> None:
        await self.engine.dispose()

    async def bulk_insert(self, rows: Sequence[tuple[str, int, int]]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                INSERT, [{"name": name, "age": age, "score": score} for name, age, score in rows]
            )

    async def fetch_all(self) -> Sequence[Any]:
        async with self.engine.begin() as conn:
            return (await conn.execute(ALL)).all()

    async def get_by_pk(self, ids: Sequence[int]) -> list[Any]:
        async with self.engine.begin() as conn:
            return [(await conn.execute(GET, {"pk": i})).one() for i in ids]

    async def filter_pages(self, ages: Sequence[int]) -> list[Any]:
        async with self.engine.begin() as conn:
            return [(await conn.execute(PAGE, {"age": age})).all() for age in ages]

    async def update_loop(self, ids: Sequence[int]) -> None:
        async with self.engine.begin() as conn:
            for i in ids:
                row = (await conn.execute(GET, {"pk": i})).one()
                await conn.execute(UPDATE, {"pk": i, "new": row.score + 1})

    async def select_related(self, limit: int) -> Sequence[Any]:
        async with self.engine.begin() as conn:
            return (await conn.execute(JOINED, {"limit": limit})).all()

    async def prefetch_related(self, limit: int) -> list[tuple[Any, list[Any]]]:
        async with self.engine.begin() as conn:
            parents = (await conn.execute(PARENTS, {"limit": limit})).all()
            ids = [row.id for row in parents]
            children = (await conn.execute(CHILDREN, {"ids": ids})).all()
        return self.attach(parents, children)

    async def aggregates(self, author_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
        async with self.engine.begin() as conn:
            return [
                (
                    await conn.scalar(COUNT, {"a": i}),
                    await conn.scalar(EXISTS, {"a": i}),
                    await conn.scalar(AVG, {"a": i}),
                )
                for i in author_ids
            ]

    async def stream(self, chunk: int) -> tuple[int, int]:
        rows = total = 0
        async with self.engine.begin() as conn:
            result = await conn.stream(STREAM.execution_options(yield_per=chunk))
            async for part in result.partitions(chunk):
                rows += len(part)
                total += sum(row.value for row in part)
        return rows, total


Peer = CorePeer
