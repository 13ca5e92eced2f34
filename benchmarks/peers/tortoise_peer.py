"""Tortoise ORM: Django-style models and querysets on its own drivers (asyncpg, aiomysql,
aiosqlite), each workload inside `in_transaction()`.

No streaming: `QuerySet.__aiter__` awaits the whole result first, so the memory workload is
n/a rather than measured as something it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise import Tortoise, fields
from tortoise.expressions import RawSQL
from tortoise.functions import Avg
from tortoise.models import Model
from tortoise.transactions import in_transaction

from benchmarks.peers.base import ObjectPeer
from benchmarks.target import Target
from benchmarks.workloads import PAGE_SIZE


class Author(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    age = fields.IntField()
    score = fields.IntField(default=0)

    class Meta:
        table = "author"


class Book(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    pages = fields.IntField()
    author: fields.ForeignKeyRelation[Author] = fields.ForeignKeyField(
        "bench.Author", related_name="books"
    )

    class Meta:
        table = "book"


# `Avg("pages")` converts the result to the field's type, so an average of 158.5 pages comes
# back as 158 (Tortoise 1.1.9; the W8 check catches it). A raw column argument has no field
# type to convert to, and the SQL is the same AVG(pages).
AVG_PAGES = Avg(RawSQL("pages"))  # type: ignore[arg-type]


class TortoisePeer(ObjectPeer):
    name = "tortoise"

    async def open(self, target: Target) -> None:
        await Tortoise.init(db_url=target.tortoise_url, modules={"bench": [__name__]})

    async def close(self) -> None:
        await Tortoise.close_connections()

    async def bulk_insert(self, rows: Sequence[tuple[str, int, int]]) -> None:
        async with in_transaction():
            await Author.bulk_create(
                [Author(name=name, age=age, score=score) for name, age, score in rows]
            )

    async def fetch_all(self) -> list[Author]:
        async with in_transaction():
            return await Author.all()

    async def get_by_pk(self, ids: Sequence[int]) -> list[Author]:
        async with in_transaction():
            return [await Author.get(id=i) for i in ids]

    async def filter_pages(self, ages: Sequence[int]) -> list[list[Author]]:
        async with in_transaction():
            return [await Author.filter(age=age).order_by("name").limit(PAGE_SIZE) for age in ages]

    async def update_loop(self, ids: Sequence[int]) -> None:
        async with in_transaction():
            for i in ids:
                author = await Author.get(id=i)
                author.score += 1
                await author.save()

    async def select_related(self, limit: int) -> list[Book]:
        async with in_transaction():
            return await Book.filter(id__lte=limit).select_related("author").order_by("id")

    async def prefetch_related(self, limit: int) -> list[Author]:
        async with in_transaction():
            return await Author.filter(id__lte=limit).order_by("id").prefetch_related("books")

    async def aggregates(self, author_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
        async with in_transaction():
            return [
                (
                    await Book.filter(author_id=i).count(),
                    await Book.filter(author_id=i).exists(),
                    (await Book.filter(author_id=i).annotate(avg=AVG_PAGES).values("avg"))[0][
                        "avg"
                    ],
                )
                for i in author_ids
            ]

    async def stream(self, chunk: int) -> tuple[int, int]:
        raise NotImplementedError(
            "Tortoise has no streaming iterator: QuerySet.__aiter__ loads the whole result first"
        )


Peer = TortoisePeer
