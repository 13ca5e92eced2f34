"""Workloads W1..W8 and the streaming workload: their data, their expected answers, their checks.

A workload is three parts: `prepare` puts the tables in the state it needs (harness
connection, untimed), `run` calls the peer's coroutine (the only timed part; the peer opens
its own unit of work inside it), `check` compares what came back, and what the database now
holds, with answers computed here in Python from the deterministic data (untimed). A check
that fails raises `WrongResult`, which the harness reports loudly and turns into a non-zero
exit status.

Data, as in NOTES Part C: author i (0-based) has id i+1, name `author-{i:05d}` (so name order
is id order on every collation), age `18 + (i*37) % 50`; loops visit ids `(i*7919) % N + 1`,
a permutation of 1..N since 7919 is prime.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.scratch import Admin, event_value

BOOKS_PER_AUTHOR = 10
PAGE_SIZE = 20


class WrongResult(AssertionError):
    """A peer ran to the end and returned something other than the right answer."""


@dataclass(frozen=True)
class Sizes:
    authors: int  # rows inserted (W1) and fetched (W2)
    loops: int  # iterations of W3, W4, W5, W8
    joined: int  # books fetched with their author (W6)
    parents: int  # authors prefetched with their books (W7)
    stream: int  # rows streamed by the memory workload
    chunk: int = 1000  # streaming chunk size


FULL = Sizes(authors=10_000, loops=1_000, joined=1_000, parents=500, stream=1_000_000)
QUICK = Sizes(authors=1_000, loops=100, joined=100, parents=50, stream=100_000)


def author_age(i: int) -> int:
    return 18 + (i * 37) % 50


def book_pages(j: int) -> int:
    return 100 + (j * 13) % 400


class Dataset:
    """The seed rows, the loop parameters and every expected answer, built once per process."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        n = sizes.authors
        self.new_authors = [(f"author-{i:05d}", author_age(i), 0) for i in range(n)]
        self.authors = [(i + 1, *row) for i, row in enumerate(self.new_authors)]
        self.books = [
            (j + 1, f"book-{j:05d}", book_pages(j), j // BOOKS_PER_AUTHOR + 1)
            for j in range(max(sizes.parents * BOOKS_PER_AUTHOR, sizes.joined))
        ]
        self.pk_ids = [(i * 7919) % n + 1 for i in range(sizes.loops)]
        self.ages = [author_age(i) for i in range(sizes.loops)]
        self.stream_rows = sizes.stream
        self.stream_sum = sum(event_value(k) for k in range(sizes.stream))
        self._books_of: dict[int, list[tuple[Any, ...]]] = {}
        for book in self.books:
            self._books_of.setdefault(book[3], []).append(book)
        self._pages = {
            age: [a for a in self.authors if a[2] == age][:PAGE_SIZE] for age in set(self.ages)
        }

    def author(self, author_id: int) -> tuple[Any, ...]:
        return self.authors[author_id - 1]

    def page(self, age: int) -> list[tuple[Any, ...]]:
        """W4's answer: the first PAGE_SIZE authors by name of that age."""
        return self._pages[age]

    def books_of(self, author_id: int) -> list[tuple[Any, ...]]:
        return self._books_of.get(author_id, [])

    def aggregates(self, author_id: int) -> tuple[int, bool, float | None]:
        pages = [b[2] for b in self.books_of(author_id)]
        return len(pages), bool(pages), (sum(pages) / len(pages) if pages else None)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise WrongResult(message)


def expect_rows(what: str, got: Sequence[Any], want: Sequence[Any]) -> None:
    expect(len(got) == len(want), f"{what}: {len(got)} rows, expected {len(want)}")
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        expect(g == w, f"{what}: row {index} is {g!r}, expected {w!r}")


def _author_tuple(row: Sequence[Any]) -> tuple[Any, ...]:
    """Normalise driver types (int subclasses, Decimal ids on some drivers) for comparison."""
    return (int(row[0]), str(row[1]), int(row[2]), int(row[3]))


def _book_tuple(row: Sequence[Any]) -> tuple[Any, ...]:
    return (int(row[0]), str(row[1]), int(row[2]), int(row[3]))


# --- checks: (peer, admin, data, result) -> None, raise WrongResult ------------------------


async def check_bulk_insert(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    rows = await admin.authors()
    admin.state = "unknown"
    expect_rows("W1 table after insert", [_author_tuple(r) for r in rows], data.authors)


async def check_fetch_all(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    got = sorted(_author_tuple(r) for r in await peer.canon_authors(result))
    expect_rows("W2 objects", got, data.authors)


async def check_gets(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    got = [_author_tuple(r) for r in await peer.canon_authors(result)]
    expect_rows("W3 gets", got, [data.author(i) for i in data.pk_ids])


async def check_pages(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    expect(len(result) == len(data.ages), f"W4: {len(result)} pages, expected {len(data.ages)}")
    for page, age in zip(result, data.ages, strict=True):
        got = [_author_tuple(r) for r in await peer.canon_authors(page)]
        expect_rows(f"W4 page age={age}", got, data.page(age))


async def check_updates(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    touched = set(data.pk_ids)
    want = [(i, name, age, int(i in touched)) for i, name, age, _ in data.authors]
    got = [_author_tuple(r) for r in await admin.authors()]
    expect_rows("W5 table after updates (only the visited scores +1)", got, want)


async def check_joined(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    pairs = await peer.canon_book_authors(result)
    got = [(_book_tuple(b), _author_tuple(a)) for b, a in pairs]
    want = [(b, data.author(b[3])) for b in data.books[: data.sizes.joined]]
    expect_rows("W6 books with author", got, want)


async def check_prefetch(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    pairs = await peer.canon_author_books(result)
    got = [(_author_tuple(a), sorted(_book_tuple(b) for b in books)) for a, books in pairs]
    want = [(data.author(i), data.books_of(i)) for i in range(1, data.sizes.parents + 1)]
    expect_rows("W7 authors with books", got, want)


def _close(got: Any, want: float | None) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return math.isclose(float(got), want, abs_tol=5e-4)  # MariaDB's AVG keeps 4 decimals


async def check_aggregates(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    expect(
        len(result) == len(data.pk_ids), f"W8: {len(result)} triples, expected {len(data.pk_ids)}"
    )
    for (count, exists, avg), author_id in zip(result, data.pk_ids, strict=True):
        want = data.aggregates(author_id)
        expect(
            int(count) == want[0] and bool(exists) == want[1] and _close(avg, want[2]),
            f"W8 author {author_id}: (count, exists, avg) = {(count, exists, avg)!r}, expected {want!r}",
        )


async def check_stream(peer: Any, admin: Admin, data: Dataset, result: Any) -> None:
    count, total = result
    expect(
        (count, total) == (data.stream_rows, data.stream_sum),
        f"stream: (rows, sum of value) = {(count, total)}, expected {(data.stream_rows, data.stream_sum)}",
    )


# --- the workloads ---------------------------------------------------------------------


async def _seed(admin: Admin, data: Dataset) -> None:
    await admin.seed(data.authors, data.books)


async def _empty(admin: Admin, data: Dataset) -> None:
    await admin.empty()


async def _nothing(admin: Admin, data: Dataset) -> None:
    return None


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    prepare: Callable[[Admin, Dataset], Awaitable[None]]
    run: Callable[[Any, Dataset], Awaitable[Any]]
    check: Callable[[Any, Admin, Dataset, Any], Awaitable[None]]


WORKLOADS = [
    Workload(
        "W1", "bulk insert", _empty, lambda p, d: p.bulk_insert(d.new_authors), check_bulk_insert
    ),
    Workload("W2", "fetch all", _seed, lambda p, d: p.fetch_all(), check_fetch_all),
    Workload("W3", "get by pk", _seed, lambda p, d: p.get_by_pk(d.pk_ids), check_gets),
    Workload("W4", "filter+order+limit", _seed, lambda p, d: p.filter_pages(d.ages), check_pages),
    Workload("W5", "get+change+save", _seed, lambda p, d: p.update_loop(d.pk_ids), check_updates),
    Workload(
        "W6", "select_related", _seed, lambda p, d: p.select_related(d.sizes.joined), check_joined
    ),
    Workload(
        "W7",
        "prefetch_related",
        _seed,
        lambda p, d: p.prefetch_related(d.sizes.parents),
        check_prefetch,
    ),
    Workload(
        "W8", "count+exists+avg", _seed, lambda p, d: p.aggregates(d.pk_ids), check_aggregates
    ),
]
STREAM = Workload(
    "M", "stream (peak RSS)", _nothing, lambda p, d: p.stream(d.sizes.chunk), check_stream
)
