"""SQLAlchemy ORM (async): declarative models, `AsyncSession`, written as its docs show.

Statements are built inline per call (SQLAlchemy's compiled cache still applies), gets go
through `session.get`, the bulk insert is `add_all` + commit (the unit of work; on SQLite it
sends one INSERT per row to fetch the ids), `joinedload` for W6 and `selectinload` for W7.

`SqlModelPeer` (sqlmodel_peer.py) reuses this class with SQLModel's models and session:
SQLModel is this ORM underneath, so only what differs is overridden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

from benchmarks.peers.base import ObjectPeer
from benchmarks.target import Target
from benchmarks.workloads import PAGE_SIZE


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    age: Mapped[int]
    score: Mapped[int] = mapped_column(default=0)
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    pages: Mapped[int]
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="books")


class Event(Base):
    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[int]
    value: Mapped[int]


class OrmPeer(ObjectPeer):
    name = "orm"
    Author: Any = Author
    Book: Any = Book
    Event: Any = Event
    session_class: type[AsyncSession] = AsyncSession
    select = staticmethod(sa.select)
    engine: AsyncEngine

    async def open(self, target: Target) -> None:
        self.engine = create_async_engine(target.sqlalchemy_url)
        self.session = async_sessionmaker(
            self.engine, class_=self.session_class, expire_on_commit=False
        )

    async def close(self) -> None:
        await self.engine.dispose()

    async def all(self, s: AsyncSession, statement: Any) -> Sequence[Any]:
        return (await s.scalars(statement)).all()

    async def scalar(self, s: AsyncSession, statement: Any) -> Any:
        return await s.scalar(statement)

    async def bulk_insert(self, rows: Sequence[tuple[str, int, int]]) -> None:
        Author = self.Author
        async with self.session.begin() as s:
            s.add_all([Author(name=name, age=age, score=score) for name, age, score in rows])

    async def fetch_all(self) -> Sequence[Any]:
        async with self.session.begin() as s:
            return await self.all(s, self.select(self.Author))

    async def get_by_pk(self, ids: Sequence[int]) -> list[Any]:
        Author = self.Author
        async with self.session.begin() as s:
            return [await s.get(Author, i) for i in ids]

    async def filter_pages(self, ages: Sequence[int]) -> list[Any]:
        Author, select = self.Author, self.select
        async with self.session.begin() as s:
            return [
                await self.all(
                    s,
                    select(Author).where(Author.age == age).order_by(Author.name).limit(PAGE_SIZE),
                )
                for age in ages
            ]

    async def update_loop(self, ids: Sequence[int]) -> None:
        Author = self.Author
        async with self.session.begin() as s:
            for i in ids:
                author = await s.get(Author, i)
                author.score += 1  # type: ignore[union-attr]
                await s.flush()

    async def select_related(self, limit: int) -> Sequence[Any]:
        Book, select = self.Book, self.select
        async with self.session.begin() as s:
            return await self.all(
                s,
                select(Book)
                .options(joinedload(Book.author))
                .where(Book.id <= limit)
                .order_by(Book.id),
            )

    async def prefetch_related(self, limit: int) -> Sequence[Any]:
        Author, select = self.Author, self.select
        async with self.session.begin() as s:
            return await self.all(
                s,
                select(Author)
                .options(selectinload(Author.books))
                .where(Author.id <= limit)
                .order_by(Author.id),
            )

    async def aggregates(self, author_ids: Sequence[int]) -> list[tuple[Any, Any, Any]]:
        Book, scalar, select = self.Book, self.scalar, self.select
        async with self.session.begin() as s:
            return [
                (
                    await scalar(
                        s, select(sa.func.count()).select_from(Book).where(Book.author_id == i)
                    ),
                    await scalar(s, select(sa.exists().where(Book.author_id == i))),
                    await scalar(s, select(sa.func.avg(Book.pages)).where(Book.author_id == i)),
                )
                for i in author_ids
            ]

    async def stream(self, chunk: int) -> tuple[int, int]:
        rows = total = 0
        async with self.session.begin() as s:
            result = await s.stream_scalars(
                self.select(self.Event).execution_options(yield_per=chunk)
            )
            async for part in result.partitions(chunk):
                rows += len(part)
                total += sum(e.value for e in part)
        return rows, total


Peer = OrmPeer
