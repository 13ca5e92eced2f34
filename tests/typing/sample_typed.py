"""Checked by mypy in test_static_types.py (never imported by pytest at run time)."""

from __future__ import annotations

from typing import reveal_type

import sqlmodelx as sx


class TypedAuthor(sx.Model):
    name: str = sx.Field(max_length=10)
    age: int | None = None


class TypedBook(sx.Model):
    title: str = sx.Field(max_length=10)
    author: TypedAuthor = sx.ForeignKey(on_delete="CASCADE", related_name="books")


async def uses() -> None:
    author = TypedAuthor(name="x")
    reveal_type(author.name)  # expect: str
    reveal_type(author.age)  # expect: int | None
    qs = TypedAuthor.objects.filter(name="x").exclude(age=3).order_by("name")
    reveal_type(qs)  # expect: sqlmodelx.query.QuerySet[sample_typed.TypedAuthor]
    reveal_type(await TypedAuthor.objects.get(id=1))  # expect: sample_typed.TypedAuthor
    reveal_type(await qs)  # expect: list[sample_typed.TypedAuthor]
    reveal_type(await qs.first())  # expect: sample_typed.TypedAuthor | None
    reveal_type(await qs.count())  # expect: int
    reveal_type(await TypedBook.objects.create(title="t", author=author))  # expect: sample_typed.TypedBook
    TypedAuthor(nam="x")  # expect-error: Unexpected keyword argument "nam" for "TypedAuthor"
    TypedAuthor(name=3)  # expect-error: Argument "name" to "TypedAuthor" has incompatible type "int"
