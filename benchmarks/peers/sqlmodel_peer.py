"""SQLModel (async session): `table=True` models, `sqlmodel.select` and `session.exec`.

The workloads are the SQLAlchemy ORM peer's, since SQLModel runs on that ORM; what differs
is what a SQLModel user writes: the models, `sqlmodel.select`, and `session.exec(...)`.
"""

# No `from __future__ import annotations`: SQLModel reads relationship annotations at class
# creation and cannot resolve `list[Book]` from a string.
from collections.abc import Sequence
from typing import Any

from sqlmodel import Field, Relationship, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from benchmarks.peers.orm import OrmPeer


class Author(SQLModel, table=True):
    __tablename__ = "author"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    age: int
    score: int = 0
    books: list["Book"] = Relationship(back_populates="author")


class Book(SQLModel, table=True):
    __tablename__ = "book"
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    pages: int
    author_id: int = Field(foreign_key="author.id")
    author: Author | None = Relationship(back_populates="books")


class Event(SQLModel, table=True):
    __tablename__ = "event"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: int
    value: int


class SqlModelPeer(OrmPeer):
    name = "sqlmodel"
    Author = Author
    Book = Book
    Event = Event
    session_class = AsyncSession
    select = staticmethod(select)

    async def all(self, s: AsyncSession, statement: Any) -> Sequence[Any]:  # type: ignore[override]
        rows: Sequence[Any] = (await s.exec(statement)).all()
        return rows

    async def scalar(self, s: AsyncSession, statement: Any) -> Any:  # type: ignore[override]
        return (await s.exec(statement)).one()


Peer = SqlModelPeer
