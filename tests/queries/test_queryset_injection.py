"""Names from outside are resolved, values are bound: nothing a user passes reaches SQL text.

Each hostile input is either refused with ``FieldError`` (a name that is not a field) or
compared as a plain value; afterwards the table still holds every row.
"""

from __future__ import annotations

import pytest
from queries_models import QAuthor, QBook, load_fixed_data

import sqlmodelx as sx
from sqlmodelx import F, Q

A = QAuthor.objects


@pytest.fixture
async def fixed(sx_database: sx.Database) -> sx.Database:
    await load_fixed_data(sx_database)
    return sx_database


async def _all_rows_kept() -> None:
    assert await A.count() == 6
    assert await QBook.objects.count() == 5


HOSTILE_NAMES = [
    lambda: A.order_by("name; DROP TABLE q_book"),
    lambda: A.order_by("-name; DROP TABLE q_book --"),
    lambda: A.filter(**{"name; drop": 1}),
    lambda: A.filter(**{"name = name OR 1=1 --": 1}),
    lambda: A.exclude(**{"1=1": True}),
    lambda: A.values("1=1"),
    lambda: A.values_list("name", "id) FROM q_book; --"),
    lambda: A.filter(**{"_connector": "OR"}),
    lambda: A.filter(**{"_negated": True}),
    lambda: A.filter(Q(**{"_connector": "OR"}), name="Ann"),
    lambda: A.annotate(x=F("name; DROP TABLE q_book")),
    lambda: A.filter(name=F("id) OR (1=1")),
    lambda: A.filter(**{"books__title; DELETE FROM q_book": "x"}),
    lambda: A.filter(**{"name__startswith; --": "x"}),
    lambda: A.only("name, (SELECT 1)"),
    lambda: A.distinct("name; --"),
    lambda: A.order_by("books__title; --"),
]


async def test_hostile_names_are_field_errors(fixed: sx.Database) -> None:
    accepted = []
    for i, make in enumerate(HOSTILE_NAMES):
        try:
            await make()
        except sx.FieldError:
            continue
        accepted.append(i)
    assert not accepted, f"hostile names accepted: {accepted}"
    await _all_rows_kept()


#: (lookup, hostile value, ids it matches, rows exclude() keeps)
HOSTILE_VALUES = [
    ("name__startswith", "'; --", [], 6),
    ("name", "Ann' OR '1'='1", [], 6),
    ("name__contains", "%' OR 1=1 --", [], 6),
    ("name__icontains", "\\'; DROP TABLE q_book; --", [], 6),
    ("name__endswith", '"); DROP TABLE q_book; --', [], 6),
    ("name__regex", "'; DROP TABLE q_book; --", [], 6),
    ("name__in", ["x'); DROP TABLE q_book; --", "Ann"], [1], 5),
    ("books__title__iexact", "' UNION SELECT 1 --", [], 6),
    # A JSON key the row lacks leaves the comparison unknown, as in Django: only rows
    # without a document (2) and, for "city", those with another city (3) are kept.
    ("data__city", "'; DROP TABLE q_book; --", [], 5),
    ("data__x'); DROP TABLE q_book; --", "y", [], 2),
]


async def test_hostile_values_are_bound(fixed: sx.Database) -> None:
    wrong = []
    for key, value, ids, kept in HOSTILE_VALUES:
        found = await A.filter(**{key: value}).values_list("id", flat=True)
        excluded = await A.exclude(**{key: value}).count()
        if (found, excluded) != (ids, kept):
            wrong.append(f"{key}={value!r}: {found}, {excluded} rows kept by exclude()")
    assert not wrong, "\n".join(wrong)
    await _all_rows_kept()


async def test_connector_keys_cannot_turn_and_into_or(fixed: sx.Database) -> None:
    user_dict = {"name": "Ann", "age": 99}
    assert await A.filter(**user_dict).count() == 0
    with pytest.raises(sx.FieldError):
        A.filter(**{**user_dict, "_connector": "OR"})
    with pytest.raises(sx.FieldError):
        A.filter(Q(**{**user_dict, "_connector": "OR", "_negated": True}))
    await _all_rows_kept()


async def test_alias_names_are_identifiers(fixed: sx.Database) -> None:
    with pytest.raises(ValueError):
        A.annotate(**{"x FROM q_book; --": F("name")})
    with pytest.raises(ValueError):
        await A.aggregate(**{"n) FROM q_book; --": sx.Count("id")})
    await _all_rows_kept()
