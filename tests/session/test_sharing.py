"""Sharing one transaction with plain SQLAlchemy code, both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlmodelx as sx

from .conftest import committed_rows
from .models import SAuthor


class Base(DeclarativeBase):
    pass


class Invoice(Base):
    """A plain SQLAlchemy ORM model of the same project."""

    __tablename__ = "s_plain_invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    total: Mapped[int]


@pytest.fixture
async def plain_tables(sx_database: sx.Database) -> AsyncIterator[None]:
    async with sx_database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield
    async with sx_database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


async def test_wrapped_session_rolls_back_and_commits_together(sx_database: sx.Database, plain_tables: None) -> None:
    async with AsyncSession(sx_database.engine) as sa_session:
        s = sx.Session(sa_session)
        assert sx.Session(sa_session) is s                 # one wrapper per AsyncSession
        sa_session.add(Invoice(total=10))
        author = SAuthor(name="shared")
        s.add(author)
        await s.flush()
        await sa_session.rollback()                        # the project's code rolls back
        assert author.id is None and s.new == []           # sqlmodelx's objects follow
        sa_session.add(Invoice(total=20))
        async with s:                                      # current session for the block
            await SAuthor.objects.create(name="committed")
            unflushed = SAuthor(name="unflushed")
            s.add(unflushed)
        s.add(SAuthor(name="pending at commit"))
        await sa_session.commit()                          # flushes sqlmodelx's pending work too
        assert unflushed.id is not None
    assert await committed_rows(sx_database, SAuthor, "name") == [
        ("committed",), ("pending at commit",), ("unflushed",)
    ]
    assert [r[1] for r in await committed_rows(sx_database, Invoice)] == [20]


async def test_plain_code_inside_a_sqlmodelx_session(sx_database: sx.Database, plain_tables: None) -> None:
    with pytest.raises(KeyError):
        async with sx_database.session() as s:
            s.sa_session.add(Invoice(total=1))
            await SAuthor.objects.create(name="gone")
            raise KeyError
    async with sx_database.session() as s:
        author = SAuthor(name="kept")
        s.add(author)
        found = await s.sa_session.execute(sa.select(SAuthor.__table__.c.name))  # autoflush first
        assert found.scalars().all() == ["kept"]
        s.sa_session.add(Invoice(total=2))
    assert await committed_rows(sx_database, SAuthor, "name") == [("kept",)]
    assert [r[1] for r in await committed_rows(sx_database, Invoice)] == [2]


async def test_plain_savepoint_rollback_reverts_sqlmodelx_objects(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        author = SAuthor(name="a")
        s.add(author)
        await s.flush()
        nested = await s.sa_session.begin_nested()          # SQLAlchemy's own savepoint
        author.rating = 8
        await s.flush()
        await nested.rollback()
        assert author.rating == 0
    assert await committed_rows(sx_database, SAuthor, "rating") == [(0,)]
