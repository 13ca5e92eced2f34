"""Models of the query tests (tables prefixed ``q_``) and the fixed data set they share."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

import sqlmodelx as sx


class QAuthor(sx.Model):
    __tablename__ = "q_author"
    name: str | None = sx.Field(default=None, max_length=40)
    age: int | None = None
    rating: Decimal | None = sx.Field(default=None, max_digits=5, decimal_places=2)
    born: dt.datetime | None = None
    data: dict[str, Any] | None = None


class QTag(sx.Model):
    __tablename__ = "q_tag"
    name: str = sx.Field(max_length=20)


class QBook(sx.Model):
    __tablename__ = "q_book"
    title: str | None = sx.Field(default=None, max_length=40)
    pages: int | None = None
    author: QAuthor = sx.ForeignKey(related_name="books", on_delete="CASCADE")
    tags: list[QTag] = sx.ManyToMany(related_name="books")


class QChapter(sx.Model):
    __tablename__ = "q_chapter"
    title: str = sx.Field(max_length=40)
    book: QBook = sx.ForeignKey(related_name="chapters", on_delete="CASCADE")


class QVersioned(sx.Model):
    __tablename__ = "q_versioned"
    name: str = sx.Field(max_length=20)
    stock: int = 0
    version: int = sx.VersionField()


NEW_YORK = dt.timezone(dt.timedelta(hours=-4))
BOGOTA = dt.timezone(dt.timedelta(hours=-5))

#: id -> fields. 3 has no name, 2 no age; 3, 5 and 6 have no books.
AUTHORS: dict[int, dict[str, Any]] = {
    1: {"name": "Ann", "age": 30, "rating": Decimal("4.50"),
        "born": dt.datetime(2024, 7, 15, 3, 30, tzinfo=NEW_YORK),  # 07:30 UTC, a Monday
        "data": {"city": "Paris", "n": 1, "tags": ["x"], "nested": {"k": "v"}}},
    2: {"name": "bob", "age": None, "rating": Decimal("3.25"),
        "data": {"city": "paris", "n": 2.5, "flag": True}},
    3: {"name": None, "age": 5},
    4: {"name": "Éva", "age": 40, "rating": Decimal("1.00"),
        "born": dt.datetime(2023, 12, 31, 23, 30, tzinfo=BOGOTA),  # 2024-01-01 04:30 UTC
        "data": {"city": None}},
    5: {"name": "100%_x", "age": 30, "data": {}},
    6: {"name": "alice", "age": 18},
}
#: id -> (author, title, pages)
BOOKS = {1: (1, "Alpha", 100), 2: (1, "Beta", 300), 3: (2, "Alpha", 300), 4: (2, None, 50), 5: (4, "Gamma", None)}
CHAPTERS = {1: (1, "one"), 2: (1, "two"), 3: (2, "three")}
TAGS = {1: "red", 2: "blue"}
BOOK_TAGS = {1: [1], 2: [2], 3: [1, 2]}


async def load_fixed_data(db: sx.Database) -> None:
    """The data set of the semantics table, with the ids above, in one transaction."""
    link = QBook.__sx_plan__.related["tags"]
    fields = QAuthor.__sx_plan__.fields
    async with db.engine.begin() as conn:
        authors = [{name: fields_.get(name) for name in fields} | {"id": i} for i, fields_ in AUTHORS.items()]
        await conn.execute(sa.insert(QAuthor.__table__), authors)
        await conn.execute(sa.insert(QTag.__table__), [{"id": i, "name": n} for i, n in TAGS.items()])
        await conn.execute(
            sa.insert(QBook.__table__),
            [{"id": i, "author_id": a, "title": t, "pages": p} for i, (a, t, p) in BOOKS.items()],
        )
        await conn.execute(
            sa.insert(QChapter.__table__), [{"id": i, "book_id": b, "title": t} for i, (b, t) in CHAPTERS.items()]
        )
        pairs = [{link.link_source.key: b, link.link_target.key: t} for b, ts in BOOK_TAGS.items() for t in ts]
        await conn.execute(sa.insert(link.table), pairs)
