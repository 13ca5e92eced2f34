"""The flush's INSERT parameters laid out row by row (``_insert._row_values``) and its groups
of objects found by the layout of their ``__dict__`` (``Session._write_inserts``) give what
the plain column-by-column layout and a name-by-name grouping give."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import sqlmodelx as sx
from sqlmodelx import _insert


class LayoutRow(sx.Model):
    __tablename__ = "perf_layout_row"
    name: str = sx.Field(max_length=20)
    size: int | None = None
    seen: dt.datetime | None = None


def reference(columns: Any, names: tuple[str, ...], part: list[dict[str, Any]]) -> tuple[Any, ...]:
    """Column lists through their processors, then zipped row by row."""
    by_column = [
        [processor(d[name]) if processor is not None else d[name] for d in part]
        for (_, _, processor), name in zip(columns, names, strict=True)
    ]
    return tuple(value for row in zip(*by_column, strict=True) for value in row)


@pytest.mark.parametrize(
    "processors",
    [(None,), (None, None), (None, None, None), (str,), (None, str), (repr, None, str)],
)
def test_row_values_as_column_by_column(processors: tuple[Any, ...]) -> None:
    names = ("a", "b", "c")[: len(processors)]
    columns = [(f'"{n}"', "TEXT", p) for n, p in zip(names, processors, strict=True)]
    part = [{"a": i, "b": f"v{i}", "c": i * 1.5, "other": object()} for i in range(7)]
    assert _insert._row_values(columns, names, part) == reference(columns, names, part)
    assert _insert._row_values(columns, names, []) == ()


async def test_objects_grouped_by_the_fields_they_set_whatever_their_layout(sx_database: sx.Database) -> None:
    """Objects setting the same fields in different ``__dict__`` orders share one INSERT;
    objects setting other fields get their own; every row gets its own values and key."""
    plain = [LayoutRow(name=f"p{i}", size=i) for i in range(5)]
    reordered = [LayoutRow(name=f"r{i}", size=i) for i in range(5)]
    for obj in reordered:  # the same fields, `size` now after `seen`
        size = obj.__dict__.pop("size")
        obj.__dict__["size"] = size
    fewer = [LayoutRow(name=f"f{i}") for i in range(3)]
    for obj in fewer:
        del obj.__dict__["seen"]  # not set: the column default (NULL) applies
    objects = [*plain, *reordered, *fewer]
    async with sx_database.session():
        await LayoutRow.objects.bulk_create(objects)
    assert len({obj.id for obj in objects}) == len(objects)
    async with sx_database.session():
        stored = {(r.id, r.name, r.size, r.seen) for r in await LayoutRow.objects.all()}
    assert stored == {(o.id, o.name, o.size, None) for o in objects}
