"""Statement templates per query shape (``_shape.py``) answer exactly as the general path.

Each query runs with the templates on (twice: the first run builds and checks the template,
the second uses it) and off (``_shape.enabled = False``), on every backend: same rows in
the same order, same objects from the identity map, same errors with the same messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

import sqlmodelx as sx
from sqlmodelx import Q, _shape
from sqlmodelx.relations import PREFETCHED


class PerfAuthor(sx.Model):
    __tablename__ = "perf_author"
    name: str | None = sx.Field(default=None, max_length=40)
    age: int | None = None
    score: int = 0
    rating: Decimal | None = sx.Field(default=None, max_digits=5, decimal_places=2)
    born: dt.datetime | None = None


class PerfBook(sx.Model):
    __tablename__ = "perf_book"
    title: str = sx.Field(max_length=40)
    pages: int
    author: PerfAuthor = sx.ForeignKey(related_name="perf_books", on_delete="CASCADE")


UTC = dt.UTC
AUTHORS = [
    {"name": "Ann", "age": 30, "score": 3, "rating": Decimal("4.50"), "born": dt.datetime(1990, 5, 1, 12, tzinfo=UTC)},
    {"name": "bob", "age": None, "score": 1, "rating": Decimal("3.25")},
    {"name": None, "age": 5, "score": 0},
    {"name": "Éva", "age": 40, "score": 7, "rating": Decimal("1.00"), "born": dt.datetime(1980, 1, 2, tzinfo=UTC)},
    {"name": "a%_b", "age": 30, "score": 2},
    {"name": "ann", "age": 41, "score": 3},
]
BOOKS = [("Alpha", 100, 1), ("Beta", 300, 1), ("Gamma", 250, 2), ("Delta", 120, 4), ("Eps", 90, 4)]


#: The keys the database gave AUTHORS (1-based: ID[1] is the first); set by the fixture.
ID: list[int] = []


@pytest.fixture
async def db(sx_database: sx.Database) -> sx.Database:
    async with sx_database.session() as s:
        authors = [PerfAuthor(**fields) for fields in AUTHORS]
        s.add_all(authors)
        await s.flush()
        s.add_all(PerfBook(title=t, pages=p, author=authors[a - 1]) for t, p, a in BOOKS)
    ID[:] = [0, *(a.id for a in authors)]
    return sx_database


@pytest.fixture
def general() -> Iterator[Callable[[], Any]]:
    """``with general():`` runs the block on the general path only."""

    class Switch:
        def __enter__(self) -> None:
            _shape.enabled = False

        def __exit__(self, *exc: Any) -> None:
            _shape.enabled = True

    yield Switch
    _shape.enabled = True


def shapes(model: Any) -> dict[Any, Any]:
    return model.__sx_plan__.__dict__.get("_sx_shapes", {})


def templated(model: Any) -> int:
    """How many shapes of ``model`` run as a verified template."""
    return sum(1 for shape in shapes(model).values() if shape.statement is not None and any(shape.verdicts.values()))


def row(obj: Any, nested: bool = True) -> tuple[Any, ...]:
    """The fields an object holds (``-`` for a field only()/defer() left out), then the
    related objects select_related / prefetch_related loaded, by the same rule."""
    d = obj.__dict__
    plan = type(obj).__sx_plan__
    fields = tuple(d.get(name, "-") for name in plan.fields)
    if not nested:
        return fields
    joined = tuple(row(d[name], False) for name in plan.relations if isinstance(d.get(name), sx.Model))
    prefetched = {name: [row(o, False) for o in items] for name, items in d.get(PREFETCHED, {}).items()}
    return (*fields, joined, prefetched)


def plain(result: Any) -> Any:
    if isinstance(result, list):
        return [row(o) if isinstance(o, sx.Model) else o for o in result]
    return row(result) if isinstance(result, sx.Model) else result


A = PerfAuthor.objects
B = PerfBook.objects
NOW = dt.datetime(1985, 1, 1, tzinfo=UTC)

# Queries the templates serve: (id, query, the model whose shape is cached).
SERVED: list[tuple[str, Callable[[int], Awaitable[Any]], Any]] = [
    ("get-pk", lambda i: A.get(id=ID[i]), PerfAuthor),
    ("get-pk-alias", lambda i: A.get(pk=ID[i]), PerfAuthor),
    ("filter-order-slice", lambda i: A.filter(age=30 + i - 1).order_by("name", "-id")[:2], PerfAuthor),
    ("offset", lambda i: A.filter(score__gte=i).order_by("id")[1:3], PerfAuthor),
    ("comparisons", lambda i: A.filter(age__gt=i, age__lte=40).order_by("-age"), PerfAuthor),
    ("decimal", lambda i: A.filter(rating__gte=Decimal("1.5") * i).order_by("id"), PerfAuthor),
    ("datetime", lambda i: A.filter(born__lt=NOW + dt.timedelta(days=i)).order_by("id"), PerfAuthor),
    ("text-exact", lambda i: A.filter(name=["Ann", "ann"][i % 2]).order_by("id"), PerfAuthor),
    ("iexact", lambda i: A.filter(name__iexact="ANN").order_by("id"), PerfAuthor),
    ("startswith-wildcards", lambda i: A.filter(name__startswith="a%").order_by("id"), PerfAuthor),
    ("icontains", lambda i: A.filter(name__icontains="N").order_by("id"), PerfAuthor),
    ("exclude-nullable", lambda i: A.exclude(name="Ann").exclude(age=i + 4).order_by("id"), PerfAuthor),
    ("or", lambda i: A.filter(Q(age=30) | Q(score=i)).order_by("id"), PerfAuthor),
    ("only", lambda i: A.only("name").filter(age=30).order_by("id"), PerfAuthor),
    ("defer", lambda i: A.defer("born", "rating").filter(score__lt=5 + i).order_by("id"), PerfAuthor),
    ("fk-value", lambda i: B.filter(author_id=ID[i]).order_by("id"), PerfBook),
    ("across-to-one", lambda i: B.filter(author__name="Ann", pages__gt=50 * i).order_by("id"), PerfBook),
    ("count", lambda i: B.filter(author_id=ID[i]).count(), PerfBook),
    ("exists", lambda i: B.filter(author_id=ID[i + 2]).exists(), PerfBook),
    ("aggregate", lambda i: B.filter(author_id=ID[i]).aggregate(avg=sx.Avg("pages"), n=sx.Count("id"), top=sx.Max("title")), PerfBook),
    ("count-sliced", lambda i: A.filter(age=30).order_by("id")[:i].count(), PerfAuthor),
    ("first", lambda i: A.filter(score=3).first(), PerfAuthor),
    ("last", lambda i: A.filter(score__gte=i).last(), PerfAuthor),
    ("select-related", lambda i: B.select_related("author").filter(pages__gt=50 * i).order_by("id"), PerfBook),
    ("select-related-get", lambda i: B.select_related("author").get(title=BOOKS[i][0]), PerfBook),
    ("prefetch", lambda i: A.prefetch_related("perf_books").filter(age__gte=4 * i).order_by("id"), PerfAuthor),
    ("prefetch-and-related", lambda i: B.select_related("author").prefetch_related("author__perf_books").filter(pages__lt=100 * i + 50).order_by("id"), PerfBook),
]

# Queries the templates leave to the general path: the SQL depends on the value.
GENERAL: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
    ("none-is-null", lambda: A.filter(name=None).order_by("id")),
    ("exclude-none", lambda: A.exclude(age=None).order_by("id")),
    ("in-list", lambda: A.filter(id__in=[ID[1], ID[3], 10**6]).order_by("id")),
    ("isnull", lambda: A.filter(age__isnull=True).order_by("id")),
    ("f-expression", lambda: A.filter(score__lt=sx.F("age")).order_by("id")),
    ("to-many", lambda: A.filter(perf_books__pages__gt=200).order_by("id")),
    ("subquery", lambda: A.filter(id__in=B.filter(pages__gt=100).values("author_id")).order_by("id")),
    ("values", lambda: A.filter(age=30).values_list("name", flat=True).order_by("id")),
    ("distinct", lambda: A.filter(age=30).distinct().order_by("id")),
    ("annotate", lambda: A.annotate(n=sx.Count("perf_books")).filter(age=30).order_by("id")),
    ("core-condition", lambda: A.filter(PerfAuthor.age > 10).order_by("id")),
    ("aggregate-filtered", lambda: B.aggregate(n=sx.Count("id", filter=Q(pages__gt=100)))),
]


@pytest.mark.parametrize(("query", "model"), [pytest.param(q, m, id=n) for n, q, m in SERVED])
async def test_templates_answer_as_the_general_path(db: sx.Database, general: Any, query: Any, model: Any) -> None:
    model.__sx_plan__.__dict__["_sx_shapes"] = {}
    for i in (1, 2, 3):
        with general():
            expected = plain(await query(i))
        assert plain(await query(i)) == expected  # the first run of the shape builds the template
        assert plain(await query(i)) == expected
        async with db.session():  # in a session: through the identity map, alike
            with general():
                old = await query(i)
            new = await query(i)
            assert plain(new) == plain(old)
            if isinstance(old, list):
                assert all(a is b for a, b in zip(old, new, strict=True))
            elif isinstance(old, sx.Model):
                assert new is old
    built = shapes(model)
    assert built and all(shape.statement is not None and all(shape.verdicts.values()) for shape in built.values())


@pytest.mark.parametrize("query", [pytest.param(q, id=n) for n, q in GENERAL])
async def test_value_dependent_queries_take_the_general_path(db: sx.Database, general: Any, query: Any) -> None:
    before = {m: templated(m) for m in (PerfAuthor, PerfBook)}
    with general():
        expected = plain(await query())
    for _ in range(2):
        assert plain(await query()) == expected
    assert {m: templated(m) for m in (PerfAuthor, PerfBook)} == before


async def test_identity_map_and_pending_changes_alike(db: sx.Database, general: Any) -> None:
    async with db.session() as s:
        ann = await A.get(id=ID[1])
        ann.score = 99  # not flushed yet: the next read flushes it first, on either path
        assert await A.get(id=ID[1]) is ann
        assert [a.id for a in await A.filter(score=99)] == [ID[1]]
        with general():
            assert [a.id for a in await A.filter(score=99)] == [ID[1]]
        ann.name = "changed in memory"
        await s.flush()
        again = await A.filter(name="changed in memory").first()
        assert again is ann
        s.expunge(ann)
        fresh = await A.get(id=ID[1])
        assert fresh is not ann and fresh.name == "changed in memory"
        await s.rollback()
    assert (await A.get(id=ID[1])).name == "Ann"  # rolled back, on a template too


async def test_same_errors(db: sx.Database, general: Any) -> None:
    cases: list[tuple[Callable[[], Awaitable[Any]], type[Exception]]] = [
        (lambda: A.get(id=10**6), PerfAuthor.DoesNotExist),
        (lambda: A.get(age=30), PerfAuthor.MultipleObjectsReturned),
        (lambda: A.get(id="not a number"), sx.ValidationError),
        (lambda: A.filter(age__gt="x").count(), sx.ValidationError),
        (lambda: B.filter(pages="many").exists(), sx.ValidationError),
    ]
    for query, error in cases:
        with general(), pytest.raises(error) as on_general:
            await query()
        for _ in range(2):
            with pytest.raises(error) as on_template:
                await query()
            assert str(on_template.value) == str(on_general.value)
    with pytest.raises(sx.FieldError, match="nmae"):
        A.filter(nmae="x")
    with pytest.raises(sx.FieldError, match="nmae"):
        A.filter(nmae="x")  # a bad name is never remembered as checked


async def test_saved_instance_as_value(db: sx.Database, general: Any) -> None:
    async with db.session():
        ann = await A.get(id=ID[1])
        with general():
            expected = plain(await B.filter(author=ann).order_by("id"))
        assert plain(await B.filter(author=ann).order_by("id")) == expected
        assert plain(await B.filter(author=ann).order_by("id")) == expected
        assert await B.filter(author=ann).count() == 2
        unsaved = PerfAuthor(name="new")  # no key: the general path (author IS NULL)
        with general():
            expected_none = plain(await B.filter(author=unsaved))
        assert plain(await B.filter(author=unsaved)) == expected_none == []


async def test_a_template_that_compiles_differently_is_not_used(db: sx.Database, general: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(_shape, "_same_query", lambda *args: False)
    query = lambda: A.filter(score__lt=4, age__gte=1).order_by("-id")  # noqa: E731
    with general():
        expected = plain(await query())
    assert plain(await query()) == expected
    assert plain(await query()) == expected
    key = next(k for k in shapes(PerfAuthor) if k[1] == (("AND", False, (("age__gte", int), ("score__lt", int))),))
    assert not any(shapes(PerfAuthor)[key].verdicts.values())


async def test_templates_per_model_are_bounded(db: sx.Database, monkeypatch: Any) -> None:
    monkeypatch.setattr(_shape, "MAX_SHAPES", 4)
    for offset in range(10):
        await A.filter(age=30).order_by("id")[offset : offset + 1]
    assert len(shapes(PerfAuthor)) <= 4


async def test_statement_and_sql_show_the_values(db: sx.Database) -> None:
    qs = A.filter(name="Ann")
    await qs
    await qs
    assert "'Ann'" in qs.sql()
    assert list(qs.statement.compile().params.values()) == ["Ann"]
