"""Identity map: within a session one row is one object, on every read path."""

from __future__ import annotations

import gc

import pytest

import sqlmodelx as sx

from .conftest import sql_log
from .models import SAuthor, SBook


async def _seed() -> int:
    author = await SAuthor.objects.create(name="a", email="a@x")
    await SBook.objects.create(title="t1", author=author)
    return author.id


async def test_get_and_filter_give_the_same_object(sx_database: sx.Database) -> None:
    author_id = await _seed()
    async with sx_database.session():
        one = await SAuthor.objects.get(id=author_id)
        assert one is await SAuthor.objects.filter(name="a").first()
        assert one is (await SAuthor.objects.filter(email="a@x"))[0]
        assert [one] == [a async for a in SAuthor.objects.filter(name="a")]
        assert one is [a async for a in SAuthor.objects.all()][0]
    async with sx_database.session():
        other = await SAuthor.objects.get(id=author_id)
    assert other is not one and other.id == one.id


async def test_select_related_goes_through_the_identity_map(sx_database: sx.Database) -> None:
    if not hasattr(sx.QuerySet, "select_related"):
        pytest.skip("select_related arrives with the relations work (issue 6)")
    author_id = await _seed()
    async with sx_database.session():
        author = await SAuthor.objects.get(id=author_id)
        book = await SBook.objects.select_related("author").get(title="t1")
        assert book.author is author


async def test_session_get_reads_the_identity_map_first(sx_database: sx.Database) -> None:
    author_id = await _seed()
    async with sx_database.session() as s:
        author = await s.get(SAuthor, author_id)
        with sql_log(sx_database) as log:
            assert await s.get(SAuthor, author_id) is author
        assert len(log) == 0


async def test_a_row_read_again_refreshes_nothing(sx_database: sx.Database) -> None:
    """SQLAlchemy's rule: a query refreshes nothing of an object already in the session."""
    author_id = await _seed()
    table = SAuthor.__table__
    async with sx_database.session() as s:
        author = await SAuthor.objects.get(id=author_id)
        await s.execute(table.update().values(name="renamed").where(table.c.id == author_id))
        author.email = "changed@x"
        again = await SAuthor.objects.get(id=author_id)   # autoflush writes email first
        assert again is author
        assert (author.name, author.email) == ("a", "changed@x")
        await s.refresh(author)                           # refresh() reads it again
        assert (author.name, author.email) == ("renamed", "changed@x")
        assert s.dirty == []


async def test_identity_map_holds_objects_weakly(sx_database: sx.Database) -> None:
    for i in range(50):
        await SAuthor.objects.create(name=f"w{i}")
    async with sx_database.session() as s:
        authors = await SAuthor.objects.all()
        assert len(s.identity_map) == 50
        del authors
        gc.collect()
        assert len(s.identity_map) == 0
        again = await SAuthor.objects.filter(name="w1").first()
        assert again is not None and len(s.identity_map) == 1


async def test_objects_with_unflushed_changes_are_held(sx_database: sx.Database) -> None:
    author_id = await _seed()
    async with sx_database.session() as s:
        author = await SAuthor.objects.get(id=author_id)
        author.rating = 4
        del author
        gc.collect()
        assert len(s.dirty) == 1
    assert (await SAuthor.objects.get(id=author_id)).rating == 4


async def test_deferred_fields_filled_from_a_later_row_are_not_changes(sx_database: sx.Database) -> None:
    author_id = await _seed()
    async with sx_database.session() as s:
        author = await SAuthor.objects.get(id=author_id)
        del author.__dict__["email"]            # as if loaded with defer("email")
        author.__dict__["_sx_cols"] = tuple(n for n in author.__dict__["_sx_cols"] if n != "email")
        author.__dict__["_sx_vals"] = (author.id, "a", 0)
        again = await SAuthor.objects.get(id=author_id)
        assert again is author and author.email == "a@x"
        with sql_log(sx_database) as log:
            await s.flush()
        assert len(log) == 0
