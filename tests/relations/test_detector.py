"""assert_num_queries and the N+1 detector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


PLUGIN_DEMO = '''
import pytest
import sqlmodelx as sx


class NpAuthor(sx.Model):
    name: str = ""


class NpBook(sx.Model):
    author: NpAuthor = sx.ForeignKey(on_delete="CASCADE")


async def _books(db):
    async with db.session() as s:
        authors = [NpAuthor(name=str(i)) for i in range(10)]
        s.add_all(authors)
        await s.flush()
        s.add_all([NpBook(author=a) for a in authors])


@pytest.mark.no_n_plus_one
async def test_marker(sx_database):
    await _books(sx_database)
    for book in await NpBook.objects.all():
        await book.load("author")


async def test_fixture(sx_database, sx_n_plus_one):
    await _books(sx_database)
    for book in await NpBook.objects.all():
        await book.load("author")


@pytest.mark.no_n_plus_one
async def test_clean(sx_database, sx_n_plus_one):
    await _books(sx_database)
    await NpBook.objects.prefetch_related("author")
'''

INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


def test_marker_and_fixture_fail_an_n_plus_one_test(tmp_path: Path) -> None:
    """The plugin in a pytest of its own (SQLite only): the N+1 tests fail, the clean one passes."""
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_demo.py").write_text(PLUGIN_DEMO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLMODELX_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_demo.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = done.stdout
    assert done.returncode == 1, out
    assert "NPlusOneError: N+1: this query ran 10 times" in out
    assert "FAILED test_demo.py::test_marker[sqlite]" in out
    assert "ERROR test_demo.py::test_fixture[sqlite]" in out       # raised at teardown
    assert "1 failed, 2 passed" in out and "1 error" in out   # test_fixture's call passed
    assert "test_clean" not in out.split("short test summary")[-1]
