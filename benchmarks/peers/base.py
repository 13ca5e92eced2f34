"""The contract every peer implements, and the two ways a peer's results are read back.

A peer is one class in one module. Each workload method opens its own unit of work
(transaction or session), does the work the way a user of that library would write it, and
returns what the library returned. Only that call is timed. The `canon_*` methods turn the
returned objects into plain tuples for the checks and run outside the timer.

A method the peer does not provide raises `NotImplementedError`, which the harness reports as
"n/a" with the message as the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.target import Target

Tuple4 = Sequence[Any]


class Peer:
    name = "?"

    async def open(self, target: Target) -> None:
        """Connect (engine, pool, ORM init). Not timed."""

    async def close(self) -> None:
        """Release every connection. Not timed."""

    # W1: insert `rows` (name, age, score) in one transaction with the bulk API.
    async def bulk_insert(self, rows: Sequence[tuple[str, int, int]]) -> Any:
        raise NotImplementedError("bulk_insert")

    # W2: every author, as the library's objects.
    async def fetch_all(self) -> Any:
        raise NotImplementedError("fetch_all")

    # W3: one get by primary key per id, in order.
    async def get_by_pk(self, ids: Sequence[int]) -> Any:
        raise NotImplementedError("get_by_pk")

    # W4: per age, the authors of that age ordered by name, first 20.
    async def filter_pages(self, ages: Sequence[int]) -> Any:
        raise NotImplementedError("filter_pages")

    # W5: per id, load the author, add 1 to score, save; all in one transaction.
    async def update_loop(self, ids: Sequence[int]) -> Any:
        raise NotImplementedError("update_loop")

    # W6: books with id <= limit ordered by id, each with its author loaded by a JOIN.
    async def select_related(self, limit: int) -> Any:
        raise NotImplementedError("select_related")

    # W7: authors with id <= limit ordered by id, with their books, in 2 queries.
    async def prefetch_related(self, limit: int) -> Any:
        raise NotImplementedError("prefetch_related")

    # W8: per author id, (count of books, any books?, average pages): 3 queries each.
    async def aggregates(self, author_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
        raise NotImplementedError("aggregates")

    # M: stream every event row in chunks; return (row count, sum of value).
    async def stream(self, chunk: int) -> tuple[int, int]:
        raise NotImplementedError("stream")

    # --- reading results back (untimed) ---

    async def canon_authors(self, result: Any) -> list[Tuple4]:
        raise NotImplementedError

    async def canon_book_authors(self, result: Any) -> list[tuple[Tuple4, Tuple4]]:
        raise NotImplementedError

    async def canon_author_books(self, result: Any) -> list[tuple[Tuple4, list[Tuple4]]]:
        raise NotImplementedError


class RowPeer(Peer):
    """Results are driver rows in schema column order: author (id, name, age, score), book
    (id, title, pages, author_id); a W6 row is the book's columns then the author's; W7 is a
    list of (author row, [book rows])."""

    @staticmethod
    def attach(parents: Sequence[Tuple4], children: Sequence[Tuple4]) -> list[Any]:
        """W7 by hand: pair each author row with its book rows (book[3] is author_id)."""
        by_parent: dict[Any, list[Tuple4]] = {parent[0]: [] for parent in parents}
        for child in children:
            by_parent[child[3]].append(child)
        return [(parent, by_parent[parent[0]]) for parent in parents]

    async def canon_authors(self, result: Any) -> list[Tuple4]:
        return list(result)

    async def canon_book_authors(self, result: Any) -> list[tuple[Tuple4, Tuple4]]:
        return [(row[:4], row[4:8]) for row in result]

    async def canon_author_books(self, result: Any) -> list[tuple[Tuple4, list[Tuple4]]]:
        return list(result)


class ObjectPeer(Peer):
    """Results are model objects with attributes id, name, age, score / id, title, pages,
    author_id; `book.author` is the loaded parent and `author.books` the loaded children."""

    async def children(self, author: Any) -> list[Any]:
        return list(author.books)

    async def canon_authors(self, result: Any) -> list[Tuple4]:
        return [(a.id, a.name, a.age, a.score) for a in result]

    async def canon_book_authors(self, result: Any) -> list[tuple[Tuple4, Tuple4]]:
        return [
            ((b.id, b.title, b.pages, b.author_id), (await self.canon_authors([b.author]))[0])
            for b in result
        ]

    async def canon_author_books(self, result: Any) -> list[tuple[Tuple4, list[Tuple4]]]:
        return [
            (
                (await self.canon_authors([a]))[0],
                [(b.id, b.title, b.pages, b.author_id) for b in await self.children(a)],
            )
            for a in result
        ]
