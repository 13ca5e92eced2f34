"""Bad input: each mistake gets its own exception, a message that says what to do, and
nothing is written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import sqlmodelx as sx
from sqlmodelx import _context

from .conftest import committed_rows
from .models import SAuthor


@pytest.fixture
def no_default_database() -> Iterator[None]:
    saved = list(_context._default)
    _context._default.clear()
    try:
        yield
    finally:
        _context._default[:] = saved


async def test_add_of_a_non_model(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        with pytest.raises(TypeError, match=r"Session.add\(\) takes a model instance \(an sx.Model subclass\), not dict"):
            s.add({"name": "x"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not str"):
            s.delete("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wraps a sqlalchemy AsyncSession, not Database"):
        sx.Session(sx_database)  # type: ignore[arg-type]
    assert await committed_rows(sx_database, SAuthor) == []


async def test_use_of_a_closed_session(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        pass
    for use in (lambda: s.add(SAuthor(name="late")), lambda: s.delete(SAuthor(name="late"))):
        with pytest.raises(sx.SessionError, match=r"this session is closed; open a new one with `async with db.session\(\)"):
            use()
    with pytest.raises(sx.SessionError, match="this session is closed"):
        await SAuthor.objects.using(s).all()
    with pytest.raises(sx.SessionError, match="this session is closed"):
        await s.flush()
    assert await committed_rows(sx_database, SAuthor) == []


async def test_flush_of_an_invalid_instance(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        good = SAuthor(name="good")
        bad = SAuthor(name="bad")
        bad.rating = -1                                   # breaks ge=0, unchecked until the flush
        s.add_all([good, bad])
        with pytest.raises(sx.ValidationError, match=r"SAuthor:\n  rating: .*\(got -1\)"):
            await s.flush()
        assert good.id is None                            # nothing was written, not even `good`
        bad.rating = 1                                    # fixed: the session is still usable
        await s.flush()
        assert good.id is not None and bad.id is not None
    assert await committed_rows(sx_database, SAuthor, "name") == [("bad",), ("good",)]


async def test_using_an_unknown_database_name(sx_database: sx.Database) -> None:
    with pytest.raises(sx.ConfigurationError, match=r"no database named 'nope' \(known: .*sx_test_.*\); create it with sx.Database\(url, name='nope'\)"):
        await SAuthor.objects.using("nope").all()
    with pytest.raises(sx.ConfigurationError, match="using"):
        await SAuthor.objects.using(42).create(name="x")
    assert await committed_rows(sx_database, SAuthor) == []


async def test_no_session_and_no_default_database(sx_database: sx.Database, no_default_database: None) -> None:
    with pytest.raises(sx.NoDatabaseError, match=r"no session is open and no default database exists: create one with"):
        await SAuthor.objects.all()
    with pytest.raises(sx.NoDatabaseError):
        await SAuthor(name="x").save()
    async with sx_database.session():                     # a session is enough
        await SAuthor.objects.create(name="inside")
    assert await committed_rows(sx_database, SAuthor, "name") == [("inside",)]


async def test_an_object_of_another_open_session(sx_database: sx.Database) -> None:
    async with sx_database.session() as first:
        author = SAuthor(name="mine")
        first.add(author)
        async with sx_database.session(join=False) as second:
            with pytest.raises(sx.SessionError, match="belongs to another open session"):
                second.add(author)
        with pytest.raises(sx.SessionError, match="was never saved"):
            first.delete(SAuthor(name="never saved"))
    assert await committed_rows(sx_database, SAuthor, "name") == [("mine",)]


async def test_wrapping_an_unbound_async_session() -> None:
    with pytest.raises(sx.ConfigurationError, match=r"needs an AsyncSession bound to an engine"):
        sx.Session(AsyncSession())
