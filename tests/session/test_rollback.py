"""Rollback safety and savepoints: no object claims a state the database does not have."""

from __future__ import annotations

import pytest

import sqlmodelx as sx

from .conftest import committed_rows
from .models import SAuthor, SBook


class Boom(Exception):
    pass


async def test_rollback_reverts_inserts_updates_and_deletes(sx_database: sx.Database) -> None:
    kept = await SAuthor.objects.create(name="kept", rating=1)
    gone = await SAuthor.objects.create(name="gone")
    async with sx_database.session() as s:
        kept = await SAuthor.objects.get(id=kept.id)
        gone = await SAuthor.objects.get(id=gone.id)
        kept.rating = 5
        new = SAuthor(name="new")
        s.add(new)
        s.delete(gone)
        await s.flush()
        assert new.id is not None and "_sx_session" in new.__dict__
        kept.email = "unflushed@x"
        pending = SAuthor(name="pending")
        s.add(pending)
        await s.rollback()
        assert (kept.rating, kept.email) == (1, "")        # reverted, unflushed change too
        assert new.id is None and "id" not in new.__dict__  # lost its database-assigned key
        assert "_sx_session" not in new.__dict__ and s.new == []
        assert "_sx_session" not in pending.__dict__
        assert await SAuthor.objects.get(id=gone.id) is gone  # back, same object
        assert gone.name == "gone"
        new_again = SAuthor(name="new")
        s.add(new)                                         # a rolled-back object can be added again
        s.add(new_again)
        await s.commit()
    assert await committed_rows(sx_database, SAuthor, "name", "rating") == [
        ("gone", 0), ("kept", 1), ("new", 0), ("new", 0)
    ]


async def test_exception_in_a_session_block_rolls_back(sx_database: sx.Database) -> None:
    author = await SAuthor.objects.create(name="a")
    with pytest.raises(Boom):
        async with sx_database.session():
            author.rating = 9
            await author.save()
            book = await SBook.objects.create(title="t", author=author)
            raise Boom
    assert author.rating == 0 and book.id is None
    assert await committed_rows(sx_database, SAuthor, "rating") == [(0,)]
    assert await committed_rows(sx_database, SBook) == []


async def test_savepoint_rollback_keeps_the_outer_work(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        outer = SAuthor(name="outer")
        s.add(outer)
        await s.flush()
        with pytest.raises(Boom):
            async with s.begin_nested():
                outer.rating = 7
                inner = SAuthor(name="inner")
                s.add(inner)
                await s.flush()
                s.delete(outer)
                await s.flush()
                raise Boom
        assert outer.rating == 0 and outer.name == "outer"       # no stale attribute
        assert await SAuthor.objects.get(id=outer.id) is outer     # its delete was undone
        assert inner.id is None and "_sx_session" not in inner.__dict__
        assert [a.name for a in await SAuthor.objects.order_by("name")] == ["outer"]
        async with s.begin_nested():                               # a released savepoint
            outer.rating = 2
            s.add(SAuthor(name="second"))
    assert await committed_rows(sx_database, SAuthor, "name", "rating") == [("outer", 2), ("second", 0)]


async def test_outer_rollback_undoes_a_savepoint_that_opened_the_transaction(sx_database: sx.Database) -> None:
    """The savepoint is the first statement (SQLite needs the explicit BEGIN, NOTES 5)."""
    author = await SAuthor.objects.create(name="before")
    async with sx_database.session() as s:
        async with s.begin_nested():
            await s.execute(SAuthor.__table__.insert().values(name="raw", email="", rating=0))
            mine = await SAuthor.objects.get(id=author.id)
            mine.rating = 3
            s.add(SAuthor(name="in savepoint"))
        assert [a.name for a in await SAuthor.objects.order_by("name")] == ["before", "in savepoint", "raw"]
        await s.rollback()
        assert mine.rating == 0
    assert await committed_rows(sx_database, SAuthor, "name", "rating") == [("before", 0)]


async def test_nested_savepoints_release_into_each_other(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        a = SAuthor(name="a")
        s.add(a)
        await s.flush()
        with pytest.raises(Boom):
            async with s.begin_nested():
                a.rating = 1
                async with s.begin_nested():
                    a.rating = 2
                    b = SAuthor(name="b")
                    s.add(b)
                assert b.id is not None                     # released into the outer savepoint
                raise Boom
        assert a.rating == 0 and b.id is None                # both undone with the outer one
    assert await committed_rows(sx_database, SAuthor, "name", "rating") == [("a", 0)]


async def test_a_failed_flush_rolls_back_and_the_session_says_so(sx_database: sx.Database) -> None:
    author = await SAuthor.objects.create(name="a")
    async with sx_database.session() as s:
        mine = await SAuthor.objects.get(id=author.id)
        mine.rating = 4
        s.add(SBook(title="orphan", author_id=10**6))      # no such author: FK violation
        with pytest.raises(sx.IntegrityError):
            await s.flush()
        assert mine.rating == 0                             # the transaction was rolled back
        with pytest.raises(sx.SessionError, match="call `await session.rollback"):
            await SAuthor.objects.all()
        await s.rollback()
        assert len(await SAuthor.objects.all()) == 1


async def test_a_failed_flush_in_a_savepoint_rolls_back_only_the_savepoint(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        kept = SAuthor(name="kept")
        s.add(kept)
        await s.flush()
        with pytest.raises(sx.IntegrityError):
            async with s.begin_nested():
                s.add(SBook(title="orphan", author_id=10**6))
        assert kept.id is not None
        assert len(await SAuthor.objects.all()) == 1
    assert await committed_rows(sx_database, SAuthor, "name") == [("kept",)]
