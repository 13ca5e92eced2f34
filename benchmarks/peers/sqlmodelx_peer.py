"""sqlmodelx, written against the public API in DESIGN.md only, as a user would write it.

While the library is being built, a missing name raises AttributeError (or the library's
NotImplementedError) and the harness shows that workload as n/a with the reason; nothing
here works around a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlmodelx as sx
from benchmarks.peers.base import ObjectPeer
from benchmarks.target import Target
from benchmarks.workloads import PAGE_SIZE


class Author(sx.Model):
    name: str = sx.Field(max_length=100)
    age: int
    score: int = 0


class Book(sx.Model):
    title: str = sx.Field(max_length=200)
    pages: int
    author: Author = sx.ForeignKey(on_delete="CASCADE", related_name="books")


class Event(sx.Model):
    kind: int
    value: int


class SqlModelXPeer(ObjectPeer):
    name = "sqlmodelx"

    async def open(self, target: Target) -> None:
        self.db = sx.Database(target.plain_url)

    async def close(self) -> None:
        await self.db.dispose()

    async def bulk_insert(self, rows: Sequence[tuple[str, int, int]]) -> None:
        async with self.db.session():
            await Author.objects.bulk_create(
                [Author(name=name, age=age, score=score) for name, age, score in rows]
            )

    async def fetch_all(self) -> list[Author]:
        async with self.db.session():
            return await Author.objects.all()

    async def get_by_pk(self, ids: Sequence[int]) -> list[Author]:
        async with self.db.session():
            return [await Author.objects.get(id=i) for i in ids]

    async def filter_pages(self, ages: Sequence[int]) -> list[list[Author]]:
        async with self.db.session():
            return [
                await Author.objects.filter(age=age).order_by("name")[:PAGE_SIZE] for age in ages
            ]

    async def update_loop(self, ids: Sequence[int]) -> None:
        async with self.db.session():
            for i in ids:
                author = await Author.objects.get(id=i)
                author.score += 1
                await author.save()

    async def select_related(self, limit: int) -> list[Book]:
        async with self.db.session():
            return await Book.objects.filter(id__lte=limit).select_related("author").order_by("id")

    async def prefetch_related(self, limit: int) -> list[Author]:
        async with self.db.session():
            return (
                await Author.objects.filter(id__lte=limit).order_by("id").prefetch_related("books")
            )

    async def aggregates(self, author_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
        async with self.db.session():
            return [
                (
                    await Book.objects.filter(author_id=i).count(),
                    await Book.objects.filter(author_id=i).exists(),
                    (await Book.objects.filter(author_id=i).aggregate(avg=sx.Avg("pages")))["avg"],
                )
                for i in author_ids
            ]

    async def stream(self, chunk: int) -> tuple[int, int]:
        rows = total = 0
        async with self.db.session():
            async for event in Event.objects.iterator(chunk_size=chunk):
                rows += 1
                total += event.value
        return rows, total

    async def children(self, author: Any) -> list[Any]:
        """Prefetched books: iterate the reverse manager's cache if it allows, else `.all()`."""
        try:
            return list(author.books)
        except TypeError:
            return list(await author.books.all())


Peer = SqlModelXPeer
