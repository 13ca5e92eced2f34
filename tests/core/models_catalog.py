"""Models that exercise every field option; shared by the schema and round-trip tests."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa

import sqlmodelx as sx


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class CoreTimestamped(sx.Model, abstract=True):
    created_at: dt.datetime = sx.Field(default_factory=sx.utcnow)


class CoreEverything(CoreTimestamped):
    """One column of every supported annotation."""

    i: int
    s_short: str = sx.Field(max_length=20)
    s_long: str = ""
    flag: bool = False
    ratio: float = 0.5
    price: Decimal = sx.Field(max_digits=12, decimal_places=4, default=Decimal("0"))
    at: dt.datetime | None = None
    day: dt.date | None = None
    clock: dt.time | None = None
    span: dt.timedelta | None = None
    blob: bytes | None = None
    token: uuid.UUID | None = None
    color: Color = Color.RED
    doc: dict[str, Any] = sx.Field(default_factory=dict)
    items: list[Any] = sx.Field(default_factory=list)

    counter: ClassVar[int] = 0
    _private: int = 0


class CoreAuthor(sx.Model):
    __tablename__ = "core_authors"
    name: str = sx.Field(max_length=100, index=True)
    email: str | None = sx.Field(default=None, unique=True, max_length=200)
    rating: Decimal = sx.Field(max_digits=5, decimal_places=2, default=Decimal("0"))
    nickname: str | None = sx.Field(default=None, max_length=30, db_column="nick")


class CoreBook(sx.Model):
    title: str = sx.Field(max_length=200)
    author: CoreAuthor = sx.ForeignKey(on_delete="CASCADE", on_update="CASCADE", related_name="books")
    editor: CoreAuthor | None = sx.ForeignKey(on_delete="SET NULL", related_name="edited")
    pages: int = sx.Field(default=0, ge=0)
    code: str = sx.Field(max_length=12, sa_type=sa.String(12), default="x")
    note: str | None = sx.Field(default=None, sa_column=sa.Column(sa.String(40), nullable=True, comment="free text"))

    __table_args__ = (sa.UniqueConstraint("title", "author_id"),)


class CorePair(sx.Model):
    """A composite primary key."""

    left: int = sx.Field(primary_key=True, autoincrement=False)
    right: str = sx.Field(primary_key=True, max_length=10)
    label: str | None = None


custom_metadata = sa.MetaData(naming_convention=sx.NAMING_CONVENTION)


class CoreCustomBase(sx.Model, abstract=True, metadata=custom_metadata):
    pass


class CoreElsewhere(CoreCustomBase):
    title: str = sx.Field(max_length=10)
