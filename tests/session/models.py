"""Models shared by the session tests (tables prefixed ``s_``)."""

from __future__ import annotations

import sqlmodelx as sx


class SAuthor(sx.Model):
    __tablename__ = "s_author"
    name: str = sx.Field(max_length=100)
    email: str = sx.Field(max_length=100, default="")
    rating: int = sx.Field(default=0, ge=0)


class SBook(sx.Model):
    __tablename__ = "s_book"
    title: str = sx.Field(max_length=100)
    pages: int = 0
    author: SAuthor = sx.ForeignKey(on_delete="CASCADE", related_name="s_books")


class SNode(sx.Model):
    """Rows of one table referencing each other (flushed in waves)."""

    __tablename__ = "s_node"
    name: str = sx.Field(max_length=50)
    parent: SNode | None = sx.ForeignKey(on_delete="CASCADE", related_name="s_children")


class SCode(sx.Model):
    """A client-side primary key plus a value the server fills in."""

    __tablename__ = "s_code"
    code: str = sx.Field(primary_key=True, max_length=20)
    label: str = sx.Field(max_length=50, default="")
    stamp: int = sx.Field(server_default="7")


class SAccount(sx.Model):
    """Optimistic locking."""

    __tablename__ = "s_account"
    owner: str = sx.Field(max_length=50)
    balance: int = 0
    version: int = sx.VersionField()


class SItem(sx.Model):
    """Rows that differ between a primary and its stand-in replicas."""

    __tablename__ = "s_item"
    label: str = sx.Field(max_length=50)
