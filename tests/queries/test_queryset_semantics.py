"""Django's answers, written down: one case per lookup and per NULL / to-many combination.

Every case runs on every backend against the data set of ``queries_models`` (authors 1-6,
books 1-5); the expected ids are what Django returns on the same data (without Django's
to-many duplicates). A test reports every case that differs, not just the first.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from queries_models import QAuthor, QBook, load_fixed_data

import sqlmodelx as sx
from sqlmodelx import F, Q
from sqlmodelx.aggregates import Avg, Count, Max, Min, Sum

A = QAuthor.objects
B = QBook.objects


async def _ids(qs: Any) -> list[int]:
    return list(await qs.values_list("id", flat=True))


async def _check(cases: list[tuple[str, Any, list[int]]], ordered: bool = False) -> None:
    wrong = []
    for label, qs, expected in cases:
        got = await _ids(qs)
        if len(got) != len(set(got)):
            wrong.append(f"{label}: duplicate rows {got}")
        elif (got if ordered else sorted(got)) != expected:
            wrong.append(f"{label}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


@pytest.fixture
async def fixed(sx_database: sx.Database) -> sx.Database:
    await load_fixed_data(sx_database)
    return sx_database


LOOKUP_CASES = [
    ("exact", A.filter(name="Ann"), [1]),
    ("exact is case-sensitive (MariaDB collation)", A.filter(name="ann"), []),
    ("exact keeps trailing spaces (MariaDB PAD SPACE)", A.filter(name="Ann "), []),
    ("exact None is IS NULL", A.filter(name=None), [3]),
    ("iexact", A.filter(name__iexact="ANN"), [1]),
    ("iexact non-ASCII", A.filter(name__iexact="éVA"), [4]),
    ("iexact None is IS NULL", A.filter(name__iexact=None), [3]),
    ("contains is case-sensitive", A.filter(name__contains="a"), [4, 6]),
    ("icontains", A.filter(name__icontains="A"), [1, 4, 6]),
    ("contains % literally", A.filter(name__contains="%"), [5]),
    ("contains _ literally", A.filter(name__contains="_"), [5]),
    ("contains %_ literally", A.filter(name__contains="0%_"), [5]),
    ("startswith", A.filter(name__startswith="A"), [1]),
    ("istartswith", A.filter(name__istartswith="a"), [1, 6]),
    ("startswith with %", A.filter(name__startswith="100%"), [5]),
    ("endswith", A.filter(name__endswith="x"), [5]),
    ("iendswith", A.filter(name__iendswith="VA"), [4]),
    ("in", A.filter(name__in=["Ann", "bob"]), [1, 2]),
    ("in drops None", A.filter(name__in=["Ann", None]), [1]),
    ("in [] is no rows", A.filter(name__in=[]), []),
    ("exclude in [] is every row", A.exclude(name__in=[]), [1, 2, 3, 4, 5, 6]),
    ("in a QuerySet", A.filter(id__in=B.filter(pages=300).values("author")), [1, 2]),
    ("gt", A.filter(age__gt=18), [1, 4, 5]),
    ("gte", A.filter(age__gte=18), [1, 4, 5, 6]),
    ("lt", A.filter(age__lt=18), [3]),
    ("lte", A.filter(age__lte=18), [3, 6]),
    ("gt on strings by code point", A.filter(name__gt="Ann"), [2, 4, 6]),
    ("range", A.filter(age__range=(5, 30)), [1, 3, 5, 6]),
    ("isnull True", A.filter(age__isnull=True), [2]),
    ("isnull False", A.filter(age__isnull=False), [1, 3, 4, 5, 6]),
    ("regex", A.filter(name__regex=r"^[AB]"), [1]),
    ("iregex", A.filter(name__iregex=r"^b"), [2]),
    ("F comparison", A.filter(age__gt=F("rating") * 10), [4]),
    ("pk", A.filter(pk=4), [4]),
]

NULL_CASES = [
    ("exclude keeps NULL name", A.exclude(name="Ann"), [2, 3, 4, 5, 6]),
    ("exclude keeps NULL age", A.exclude(age=30), [2, 3, 4, 6]),
    ("~Q keeps NULL age", A.filter(~Q(age=30)), [2, 3, 4, 6]),
    ("exclude gt keeps NULL", A.exclude(age__gt=10), [2, 3]),
    ("exclude of two conditions", A.exclude(age=30, name="Ann"), [2, 3, 4, 5, 6]),
    ("~Q inside OR", A.filter(Q(name="bob") | ~Q(age__lt=20)), [1, 2, 4, 5]),
    ("double negation", A.filter(~~Q(age=30)), [1, 5]),
    ("exclude None", A.exclude(name=None), [1, 2, 4, 5, 6]),
    ("exclude isnull", A.exclude(age__isnull=True), [1, 3, 4, 5, 6]),
    ("OR with NULL", A.filter(Q(age__gt=35) | Q(name__startswith="b")), [2, 4]),
    ("Q any depth", A.filter(Q(Q(age=30) & ~Q(name="Ann")) | Q(Q(age__isnull=True) & Q(name="bob"))), [2, 5]),
    # Django guards the field (age IS NOT NULL) but not an F() expression: a NULL rating
    # leaves the condition unknown, and the row is excluded.
    ("exclude F: Django's guard", A.exclude(age__gt=F("rating") * 10), [1, 2]),
]

TO_MANY_CASES = [
    ("same row in one filter()", A.filter(books__title="Alpha", books__pages=300), [2]),
    ("separate filter() calls", A.filter(books__title="Alpha").filter(books__pages=300), [1, 2]),
    ("exclude", A.exclude(books__title="Alpha"), [3, 4, 5, 6]),
    ("exclude two conditions: each its own", A.exclude(books__title="Alpha", books__pages=300), [3, 4, 5, 6]),
    ("exclude: each condition on any row (split_exclude)", A.exclude(books__title="Beta", books__pages=100), [2, 3, 4, 5, 6]),
    ("isnull True: no book or a NULL title", A.filter(books__title__isnull=True), [2, 3, 5, 6]),
    ("exclude isnull True", A.exclude(books__title__isnull=True), [1, 4]),
    ("relation isnull", A.filter(books__isnull=True), [3, 5, 6]),
    ("relation isnull False", A.filter(books__isnull=False), [1, 2, 4]),
    ("gt", A.filter(books__pages__gt=200), [1, 2]),
    ("exclude gt", A.exclude(books__pages__gt=200), [3, 4, 5, 6]),
    ("OR across relation and field", A.filter(Q(books__title="Alpha") | Q(name="Éva")), [1, 2, 4]),
    ("OR same row with isnull", A.filter(Q(books__title="Alpha") | Q(books__title__isnull=True)), [1, 2, 3, 5, 6]),
    ("exact None across", A.filter(books__title="Gamma", books__pages=None), [4]),
    ("~Q mixed with positive", A.filter(Q(books__pages=300) & ~Q(books__title="Beta")), [2]),
    ("two hops, same row", A.filter(books__chapters__title="three", books__title="Beta"), [1]),
    ("two hops, other row", A.filter(books__chapters__title="three", books__title="Alpha"), []),
    ("many-to-many same row", A.filter(books__title="Alpha", books__tags__name="blue"), [2]),
    ("many-to-many separate calls", A.filter(books__title="Beta").filter(books__tags__name="red"), [1]),
    ("many-to-many exclude", A.exclude(books__tags__name="red"), [3, 4, 5, 6]),
    ("F across same row", A.filter(books__pages__gt=F("age") * 5), [1]),
    ("no duplicates from two matching rows", A.filter(books__pages__gt=10), [1, 2]),
]

TO_ONE_CASES = [
    ("join", B.filter(author__name__startswith="A"), [1, 2]),
    ("exclude across nullable values", B.exclude(author__age=30), [3, 4, 5]),
    ("author object", B.filter(author=1), [1, 2]),
    ("author__id uses the column", B.filter(author__id__in=[2, 4]), [3, 4, 5]),
    ("two levels and back", B.filter(author__books__title="Gamma"), [5]),
    ("NULL across", B.filter(author__age=None), [3, 4]),
    ("F across to-one", B.filter(pages__gt=F("author__age") * 5), [2]),
]


async def test_lookups(fixed: sx.Database) -> None:
    await _check(LOOKUP_CASES)


async def test_null_rules_of_exclude_and_negation(fixed: sx.Database) -> None:
    await _check(NULL_CASES)


async def test_to_many_relations(fixed: sx.Database) -> None:
    await _check(TO_MANY_CASES)


async def test_to_one_relations(fixed: sx.Database) -> None:
    await _check(TO_ONE_CASES)


async def test_dates_are_taken_in_utc(fixed: sx.Database) -> None:
    await _check([
        ("year", A.filter(born__year=2024), [1, 4]),
        ("year 2023 (New Year's Eve in Bogotá is 2024 in UTC)", A.filter(born__year=2023), []),
        ("month", A.filter(born__month=1), [4]),
        ("day", A.filter(born__day=15), [1]),
        ("hour", A.filter(born__hour=7), [1]),
        ("minute", A.filter(born__minute=30), [1, 4]),
        ("week_day (Sunday=1)", A.filter(born__week_day=2), [1, 4]),
        ("quarter", A.filter(born__quarter=3), [1]),
        ("date", A.filter(born__date=dt.date(2024, 7, 15)), [1]),
        ("date gte", A.filter(born__date__gte=dt.date(2024, 1, 1)), [1, 4]),
        ("year gt", A.filter(born__year__gt=2023), [1, 4]),
        ("exclude year keeps NULL", A.exclude(born__year=2024), [2, 3, 5, 6]),
    ])


async def test_json_keys(fixed: sx.Database) -> None:
    await _check([
        ("key equals string", A.filter(data__city="Paris"), [1]),
        ("key equals JSON null", A.filter(data__city=None), [4]),
        ("key missing (or no document)", A.filter(data__city__isnull=True), [3, 5, 6]),
        ("key present", A.filter(data__city__isnull=False), [1, 2, 4]),
        ("number", A.filter(data__n=1), [1]),
        ("float", A.filter(data__n=2.5), [2]),
        ("string '1' is not the number 1", A.filter(data__n="1"), []),
        ("gt", A.filter(data__n__gt=1), [2]),
        ("nested path", A.filter(data__nested__k="v"), [1]),
        ("array index", A.filter(data__tags__0="x"), [1]),
        ("boolean", A.filter(data__flag=True), [2]),
        ("has_key", A.filter(data__has_key="flag"), [2]),
        ("has_keys", A.filter(data__has_keys=["city", "n"]), [1, 2]),
        ("has_any_keys", A.filter(data__has_any_keys=["flag", "nested"]), [1, 2]),
        ("icontains on a key", A.filter(data__city__icontains="PAR"), [1, 2]),
        ("in on a key", A.filter(data__city__in=["Paris", "Rome"]), [1]),
    ])
    rows = await A.filter(id__in=[1, 2]).order_by("id").values("data__n", "data__nested")
    assert rows == [{"data__n": 1, "data__nested": {"k": "v"}}, {"data__n": 2.5, "data__nested": None}]


async def test_json_containment_where_native(fixed: sx.Database) -> None:
    qs = A.filter(data__contains={"city": "Paris"})
    if fixed.dialect.name == "sqlite":
        with pytest.raises(sx.NotSupportedError, match="sqlite"):
            await _ids(qs)
    else:
        assert await _ids(qs) == [1]


async def test_slicing_and_ordering_with_nulls(fixed: sx.Database) -> None:
    await _check([
        ("slice", A.order_by("id")[1:3], [2, 3]),
        ("head", A.order_by("id")[:2], [1, 2]),
        ("tail", A.order_by("id")[4:], [5, 6]),
        ("slice of a slice", A.order_by("id")[1:5][1:2], [3]),
        ("NULL first ascending", A.order_by("age", "id"), [2, 3, 6, 1, 5, 4]),
        ("NULL last descending", A.order_by("-age", "id"), [4, 1, 5, 6, 3, 2]),
        ("nulls_last", A.order_by(F("age").asc(nulls_last=True), "id"), [3, 6, 1, 5, 4, 2]),
        ("nulls_first descending", A.order_by(F("age").desc(nulls_first=True), "id"), [2, 4, 1, 5, 6, 3]),
        ("strings by code point", A.order_by("name"), [3, 5, 1, 6, 2, 4]),
        ("reverse", A.order_by("name").reverse(), [4, 2, 6, 1, 5, 3]),
        ("across a relation", B.order_by("author__name", "-id"), [2, 1, 4, 3, 5]),
        ("by annotation", A.annotate(n=Count("books")).order_by("-n", "id"), [1, 2, 4, 3, 5, 6]),
    ], ordered=True)
    third = await A.order_by("id")[2]
    assert third.id == 3
    with pytest.raises(IndexError):
        await A.order_by("id")[10]
    with pytest.raises(ValueError, match="negative"):
        A.all()[-1]


async def test_aggregates(fixed: sx.Database) -> None:
    result = await A.aggregate(avg=Avg("age"), total=Sum("age"), low=Min("name"), high=Max("name"), n=Count("id"))
    assert result == {"avg": 24.6, "total": 123, "low": "100%_x", "high": "Éva", "n": 6}
    assert type(result["total"]) is int
    # Avg of integers is not truncated, on every backend.
    assert await B.aggregate(avg=Avg("pages")) == {"avg": 187.5}
    assert await A.aggregate(avg=Avg("rating")) == {"avg": Decimal("2.916667")}
    assert await A.filter(age__gt=100).aggregate(total=Sum("age"), n=Count("id")) == {"total": None, "n": 0}
    assert await A.aggregate(Count("books")) == {"books__count": 5}
    assert await A.aggregate(n=Count("name", distinct=True), big=Count("id", filter=Q(age__gte=30))) == {"n": 5, "big": 3}
    assert await A.order_by("id")[:2].aggregate(total=Sum("age")) == {"total": 30}


async def test_annotations_per_object(fixed: sx.Database) -> None:
    rows = await A.annotate(n=Count("books"), total=Sum("books__pages"), chapters=Count("books__chapters")).order_by("id")
    assert [(a.id, a.n, a.total, a.chapters) for a in rows] == [
        (1, 2, 400, 3), (2, 2, 350, 0), (3, 0, None, 0), (4, 1, None, 0), (5, 0, None, 0), (6, 0, None, 0)
    ]
    # An aggregate annotation filters (in WHERE, a per-row subquery) and orders.
    assert await _ids(A.annotate(n=Count("books")).filter(n__gte=2)) == [1, 2]
    big = A.annotate(big=Count("books", filter=Q(books__pages__gte=300))).filter(big=1).order_by("id")
    assert await _ids(big) == [1, 2]


async def test_values_annotate_groups(fixed: sx.Database) -> None:
    # Grouped aggregates run over Django's LEFT JOIN: distinct= keeps the authors counted once.
    rows = await A.values("age").annotate(n=Count("id", distinct=True), n_books=Count("books")).order_by("age")
    assert rows == [
        {"age": None, "n": 1, "n_books": 2},
        {"age": 5, "n": 1, "n_books": 0},
        {"age": 18, "n": 1, "n_books": 0},
        {"age": 30, "n": 2, "n_books": 2},
        {"age": 40, "n": 1, "n_books": 1},
    ]
    having = A.values("age").annotate(n=Count("id")).filter(n__gt=1)
    assert await having == [{"age": 30, "n": 2}]
    by_author = await B.values("author__name").annotate(total=Sum("pages")).order_by("author__name")
    assert by_author == [
        {"author__name": "Ann", "total": 400},
        {"author__name": "bob", "total": 350},
        {"author__name": "Éva", "total": None},
    ]


class QClock(sx.Model):
    __tablename__ = "q_clock"
    at: dt.time
    when: dt.datetime


async def test_time_parts_truncate_fractions(sx_database: sx.Database) -> None:
    at = dt.datetime(2024, 5, 6, 13, 45, 7, 900000, tzinfo=dt.UTC)
    await QClock.objects.create(at=dt.time(13, 45, 7, 900000), when=at)
    await QClock.objects.create(at=dt.time(9, 5, 0), when=at.replace(hour=9, minute=5, second=0))
    C = QClock.objects
    assert await C.filter(at__hour=13, at__minute=45, at__second=7).count() == 1
    assert await C.filter(when__second=7, when__hour=13).count() == 1
    assert await C.filter(at__minute__lt=10).count() == 1
