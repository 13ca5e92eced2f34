"""The transactional ``sx_session`` fixture: everything is rolled back after each test."""

from __future__ import annotations

import pytest

import sqlmodelx as sx

from .conftest import committed_rows
from .models import SAuthor, SBook


@pytest.mark.parametrize("round_", [1, 2])
async def test_commits_in_the_code_under_test_are_rolled_back(
    sx_session: sx.Session, sx_database: sx.Database, round_: int
) -> None:
    assert await SAuthor.objects.all() == []              # the previous round left nothing
    author = await SAuthor.objects.create(name=f"round {round_}")
    async with sx_database.session() as s:                 # the code under test's own session
        assert s is sx_session
        await SBook.objects.create(title="t", author=author)
        await s.commit()                                   # releases a savepoint only
    async with sx_database.session(join=False) as other:   # an independent session...
        assert other is not sx_session
        other.add(SAuthor(name="independent"))             # ...inside the outer transaction too
    await sx_database.execute(SAuthor.__table__.insert().values(name="core", email="", rating=0))
    assert len(await SAuthor.objects.all()) == 3
    assert await committed_rows(sx_database, SAuthor) == []  # nothing is committed


async def test_rollback_in_the_code_under_test_keeps_earlier_work(sx_session: sx.Session) -> None:
    kept = await SAuthor.objects.create(name="kept")
    await sx_session.commit()
    sx_session.add(SAuthor(name="dropped"))
    await sx_session.rollback()
    assert [a.name for a in await SAuthor.objects.all()] == ["kept"]
    assert kept.id is not None


async def test_savepoints_inside_the_fixture(sx_session: sx.Session) -> None:
    outer = await SAuthor.objects.create(name="outer")
    with pytest.raises(KeyError):
        async with sx_session.begin_nested():
            outer.rating = 5
            await SAuthor.objects.create(name="inner")
            raise KeyError
    assert outer.rating == 0
    assert [a.name for a in await SAuthor.objects.all()] == ["outer"]
