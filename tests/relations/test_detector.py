"""assert_num_queries and the N+1 detector."""

from __future__ import annotations

import pytest

import sqlmodelx as sx
from sqlmodelx.testing import (
    CapturedQuery,
    NPlusOneError,
    assert_num_queries,
    capture_queries,
    detect_n_plus_one,
    find_n_plus_one,
)

from .models import RAuthor, RBook


async def _fifty_books(db: sx.Database) -> None:
    async with db.session() as s:
        authors = [RAuthor(name=f"a{i}") for i in range(50)]
        s.add_all(authors)
        await s.flush()
        s.add_all([RBook(title=f"b{i}", author=a) for i, a in enumerate(authors)])


async def test_detector_fails_a_load_loop(sx_database: sx.Database) -> None:
    await _fifty_books(sx_database)
    async with sx_database.session():
        with pytest.raises(NPlusOneError, match="ran 50 times") as info, detect_n_plus_one():
            books = await RBook.objects.all()
            for b in books:
                await b.load("author")
    assert "r_author" in str(info.value) and "50 rows" in str(info.value)


async def test_detector_is_silent_with_prefetch_and_select_related(sx_database: sx.Database) -> None:
    await _fifty_books(sx_database)
    with detect_n_plus_one(threshold=2), assert_num_queries(3):
        books = await RBook.objects.prefetch_related("author")
        joined = await RBook.objects.select_related("author")
    assert {b.author.name for b in books} == {b.author.name for b in joined}


@pytest.mark.no_n_plus_one
async def test_marker_passes_a_clean_test(sx_database: sx.Database) -> None:
    await _fifty_books(sx_database)
    books = await RBook.objects.prefetch_related("author")
    assert len({b.author.id for b in books}) == 50


async def test_fixture_records_the_test(sx_database: sx.Database, sx_queries: object) -> None:
    await RAuthor.objects.create(name="x")
    assert any("INSERT INTO r_author" in s for s in sx_queries.statements)  # type: ignore[attr-defined]


async def test_assert_num_queries_lists_what_was_sent(sx_database: sx.Database) -> None:
    expected = r"expected 0 queries, 1 were sent:\n  1\. SELECT"
    with pytest.raises(AssertionError, match=expected), assert_num_queries(0):
        await RAuthor.objects.count()
    with capture_queries(sx_database) as log:
        await RAuthor.objects.count()
    assert len(log) == 1 and log.selects[0].rows == 1


def test_shapes_and_batches() -> None:
    one = CapturedQuery("SELECT a FROM t WHERE t.id IN (?)", (1,), False)
    two = CapturedQuery("SELECT a FROM t WHERE t.id IN (?, ?, ?)", (1, 2, 3), False)
    pg = CapturedQuery("SELECT a FROM t WHERE t.id IN ($1, $2)  AND x = 'it''s'", (1, 2), False)
    assert one.shape == two.shape == "SELECT a FROM t WHERE t.id IN (...)"
    assert pg.shape == "SELECT a FROM t WHERE t.id IN (...) AND x = '?'"
    parent = CapturedQuery("SELECT id FROM p", (), False, rows=6)
    batches = [CapturedQuery("SELECT a FROM t WHERE t.id IN (?, ?)", (), False)] * 3
    assert find_n_plus_one([parent, *batches]) == []          # chunked: IN lists of several keys
    per_row = [one] * 6
    assert len(find_n_plus_one([parent, *per_row])) == 1
    assert find_n_plus_one(per_row) == []                      # no query it ran once per row of
    few_rows = CapturedQuery("SELECT id FROM p", (), False, rows=2)
    assert find_n_plus_one([few_rows, *per_row]) == []
