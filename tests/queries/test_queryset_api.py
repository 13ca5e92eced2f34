"""The QuerySet API: laziness, immutability, every chain method and every terminal."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest
import sqlalchemy as sa
from queries_capture import captured
from queries_models import QAuthor, QBook, QVersioned, load_fixed_data

import sqlmodelx as sx
from sqlmodelx import F, Q

A = QAuthor.objects
B = QBook.objects


@pytest.fixture
async def fixed(sx_database: sx.Database) -> sx.Database:
    await load_fixed_data(sx_database)
    return sx_database


async def _ids(qs: Any) -> list[int]:
    return list(await qs.values_list("id", flat=True))


# --------------------------------------------------------------------------- laziness


async def test_chaining_sends_no_sql_and_never_changes_the_original(fixed: sx.Database) -> None:
    base = A.filter(age__gt=1)
    before = str(base.statement)
    with captured(fixed) as statements:
        chained = (
            base.filter(Q(name__startswith="A") | Q(books__title="Beta"))
            .exclude(age=40)
            .annotate(n=sx.Count("books"), twice=F("age") * 2)
            .alias(hidden=F("age") + 1)
            .filter(hidden__gt=2)
            .order_by("-n", "name")
            .distinct()
            .only("name")
            .using(fixed)
        )
        values = chained.values("name", "n")[1:5]
        union = base.union(A.filter(name="bob"))
        str(values.statement)
        str(union.statement)
        values.sql()
        base.none().filter(name="x")
    assert statements == []
    assert str(base.statement) == before
    assert base._where != chained._where and base._order == () and base._annotations == {}
    assert await _ids(base.order_by("id")) == [1, 3, 4, 5, 6]


def test_a_queryset_is_not_a_list() -> None:
    qs = A.all()
    with pytest.raises(TypeError, match="exists"):
        bool(qs)
    with pytest.raises(TypeError, match="count"):
        len(qs)
    with pytest.raises(TypeError, match="async for"):
        iter(qs)


def test_statement_is_core_and_needs_no_database() -> None:
    stmt = A.filter(name="Ann").order_by("-age").statement
    assert isinstance(stmt, sa.Select)
    compiled = stmt.compile(dialect=sa.dialects.postgresql.dialect())
    assert "q_author.name =" in str(compiled) and "NULLS LAST" in str(compiled)
    assert "Ann" in A.filter(name="Ann").sql("sqlite")


# --------------------------------------------------------------------------- terminals


async def test_get_first_last_earliest_latest(fixed: sx.Database) -> None:
    assert (await A.get(name="Ann")).id == 1
    with pytest.raises(QAuthor.DoesNotExist, match="name='nobody'"):
        await A.get(name="nobody")
    with pytest.raises(QAuthor.MultipleObjectsReturned, match="it returned 2"):
        await A.get(age=30)
    assert isinstance(QAuthor.DoesNotExist(), sx.ObjectDoesNotExist)
    assert (await A.first()).id == 1
    assert (await A.last()).id == 6
    assert (await A.order_by("age").first()).id == 2
    assert (await A.order_by("age").last()).id == 4
    assert await A.filter(name="nobody").first() is None
    assert (await A.earliest("age", "id")).id == 2
    assert (await A.latest("age")).id == 4
    with pytest.raises(QAuthor.DoesNotExist):
        await A.filter(id=99).latest("age")
    with pytest.raises(ValueError, match="fields"):
        await A.earliest()


async def test_count_exists_contains_in_bulk(fixed: sx.Database) -> None:
    assert await A.count() == 6
    assert await A.filter(books__pages__gt=10).count() == 2
    assert await A.order_by("id")[2:10].count() == 4
    assert await A.values("age").distinct().count() == 5
    assert await A.filter(age=30).exists()
    assert not await A.filter(age=31).exists()
    assert await A.order_by("id")[5:].exists() and not await A.order_by("id")[6:].exists()
    ann = await A.get(id=1)
    assert await A.filter(age=30).contains(ann)
    assert not await A.filter(age=40).contains(ann)
    assert await A.order_by("id")[:1].contains(ann)
    with pytest.raises(TypeError):
        await A.contains(await B.get(id=1))
    bulk = await A.in_bulk([1, 4, 99])
    assert sorted(bulk) == [1, 4] and bulk[4].name == "Éva"
    assert sorted(await A.filter(age=30).in_bulk()) == [1, 5]
    assert await A.in_bulk([]) == {}
    with pytest.raises(ValueError, match="unique"):
        await A.in_bulk([1], field_name="name")


async def test_values_values_list_only_defer(fixed: sx.Database) -> None:
    assert await A.filter(id=1).values("name", "books__title").order_by("books__title") == [
        {"name": "Ann", "books__title": "Alpha"},
        {"name": "Ann", "books__title": "Beta"},
    ]
    row = (await A.filter(id=2).values())[0]
    assert row["name"] == "bob" and row["data"] == {"city": "paris", "n": 2.5, "flag": True}
    assert (await B.filter(id=1).values())[0]["author_id"] == 1
    assert await A.filter(id=1).values_list("name", "age") == [("Ann", 30)]
    named = (await A.filter(id=1).values_list("name", "age", named=True))[0]
    assert (named.name, named.age) == ("Ann", 30)
    assert await A.filter(id=1).values(upper=F("age") + 1) == [{"upper": 31}]
    assert await B.filter(id=1).values("author") == [{"author": 1}]
    only = await A.only("name").get(id=4)
    assert only.name == "Éva"
    with pytest.raises(sx.NotLoadedError, match="age"):
        _ = only.age
    deferred = await A.defer("data", "born").get(id=1)
    assert deferred.age == 30
    with pytest.raises(sx.NotLoadedError):
        _ = deferred.data
    with pytest.raises(TypeError):
        A.values_list("name", "age", flat=True)


async def test_annotate_alias_and_expressions(fixed: sx.Database) -> None:
    rows = await A.annotate(
        kind=sx.Case(sx.When(age__gte=30, then=sx.Value("senior")), sx.When(age__isnull=True, then=sx.Value("?")), default=sx.Value("junior")),
        shown=sx.Coalesce("name", sx.Value("(none)")),
        double=F("age") * 2,
        has_big=sx.Exists(B.filter(author=sx.OuterRef("pk"), pages__gte=300)),
        first_title=sx.Subquery(B.filter(author=sx.OuterRef("pk")).order_by("title").values("title")[:1]),
    ).order_by("id")
    assert [(a.kind, a.shown, a.double, bool(a.has_big), a.first_title) for a in rows] == [
        ("senior", "Ann", 60, True, "Alpha"),
        ("?", "bob", None, True, None),
        ("junior", "(none)", 10, False, None),
        ("senior", "Éva", 80, False, "Gamma"),
        ("senior", "100%_x", 60, False, None),
        ("junior", "alice", 36, False, None),
    ]
    hidden = A.alias(next_year=F("age") + 1).filter(next_year=31).order_by("id")
    assert await _ids(hidden) == [1, 5]
    assert not hasattr((await hidden)[0], "next_year")
    assert await _ids(A.filter(sx.Exists(B.filter(author=sx.OuterRef("pk"), title="Gamma")))) == [4]
    assert await _ids(A.filter(~sx.Exists(B.filter(author=sx.OuterRef("pk"))))) == [3, 5, 6]
    assert await _ids(A.filter(QAuthor.age > 35)) == [4]
    with pytest.raises(ValueError, match="conflicts"):
        A.annotate(name=F("age"))
    with pytest.raises(ValueError, match="identifier"):
        A.annotate(**{"x y": F("age")})


async def test_distinct_none_reverse_random(fixed: sx.Database) -> None:
    ages = await A.values_list("age", flat=True).distinct()
    assert len(ages) == 5 and set(ages) == {None, 5, 18, 30, 40}
    on = A.order_by("age", "id").distinct("age")
    if fixed.dialect.name == "postgresql":
        assert await _ids(on) == [2, 3, 6, 1, 4]
    else:
        with pytest.raises(sx.NotSupportedError, match=fixed.dialect.name):
            await on
    with captured(fixed) as statements:
        assert await A.none() == []
        assert await A.none().count() == 0
        assert not await A.none().exists()
        assert await A.none().aggregate(n=sx.Count("id"), s=sx.Sum("age")) == {"n": 0, "s": None}
    assert statements == []
    assert await _ids(A.order_by("id").reverse()) == [6, 5, 4, 3, 2, 1]
    assert sorted(await _ids(A.order_by("?"))) == [1, 2, 3, 4, 5, 6]


async def test_union_intersection_difference(fixed: sx.Database) -> None:
    young = A.filter(age__lt=20)
    named_a = A.filter(name__istartswith="a")
    assert await _ids(young.union(named_a).order_by("id")) == [1, 3, 6]
    assert await _ids(young.union(named_a, A.filter(id=4)).order_by("-id")[:2]) == [6, 4]
    assert await _ids(young.intersection(named_a)) == [6]
    assert await _ids(young.difference(named_a).order_by("id")) == [3]
    objects = await young.union(named_a).order_by("name")
    assert [a.id for a in objects] == [3, 1, 6]
    names = await young.union(named_a).values_list("name", flat=True).order_by("name")
    assert names == [None, "Ann", "alice"]
    assert await young.union(named_a).count() == 3
    assert await _ids(A.filter(id__in=young.union(named_a)).order_by("id")) == [1, 3, 6]
    with pytest.raises(sx.NotSupportedError):
        young.union(named_a).filter(name="x")


async def test_iterator_streams_in_chunks(fixed: sx.Database) -> None:
    seen = [a.id async for a in A.order_by("id").iterator(chunk_size=2)]
    assert seen == [1, 2, 3, 4, 5, 6]
    assert [r async for r in A.order_by("id").values_list("name", flat=True).iterator(chunk_size=4)] == [
        "Ann", "bob", None, "Éva", "100%_x", "alice"
    ]
    counted = [a.n async for a in A.annotate(n=sx.Count("books")).order_by("id").iterator(chunk_size=5)]
    assert counted == [2, 2, 0, 1, 0, 0]
    async with aclosing(A.order_by("id").iterator(chunk_size=1)) as stream:
        async for author in stream:
            assert author.id == 1
            break
    async with fixed.session():
        first = await A.get(id=1)
        streamed = [a async for a in A.order_by("id").iterator(chunk_size=3)]
        assert streamed[0] is first
    with pytest.raises(ValueError):
        [a async for a in A.iterator(chunk_size=0)]


async def test_create_get_or_create_update_or_create(sx_database: sx.Database) -> None:
    ann, created = await A.get_or_create(name="Ann", defaults={"age": 30})
    assert created and ann.age == 30
    again, created = await A.get_or_create(name="Ann", defaults={"age": 99})
    assert not created and again.id == ann.id and again.age == 30
    bob, created = await A.update_or_create(name="Bob", defaults={"age": 1})
    assert created and bob.age == 1
    bob2, created = await A.update_or_create(name="Bob", defaults={"age": lambda: 2})
    assert not created and bob2.age == 2
    assert (await A.get(name="Bob")).age == 2
    async with sx_database.session():
        cara, created = await A.get_or_create(name="Cara", defaults={"age": 3})
        assert created
        same, created = await A.get_or_create(name="Cara")
        assert same is cara and not created
        _, created = await A.update_or_create(name="Cara", defaults={"age": 4})
        assert not created and cara.age == 4
    assert (await A.get(name="Cara")).age == 4
    with pytest.raises(sx.ValidationError):
        await A.create(name="x" * 41)


async def test_get_or_create_conflict(sx_database: sx.Database) -> None:
    first, created = await QVersioned.objects.get_or_create(name="only", defaults={"stock": 1})
    assert created
    again, created = await QVersioned.objects.get_or_create(id=first.id, defaults={"name": "other"})
    assert not created and again.id == first.id
    # The lookup misses but the INSERT hits the primary key: the constraint error stands.
    with pytest.raises(sx.IntegrityError):
        await QVersioned.objects.get_or_create(id=first.id, name="different")
    async with sx_database.session():
        with pytest.raises(sx.IntegrityError):
            await QVersioned.objects.get_or_create(id=first.id, name="different")
        # the savepoint kept the session usable
        assert await QVersioned.objects.count() == 1


async def test_select_for_update(fixed: sx.Database) -> None:
    qs = A.filter(id=1).select_for_update()
    if fixed.dialect.name == "sqlite":
        with pytest.raises(sx.NotSupportedError, match="sqlite"):
            await qs
        return
    async with fixed.session():
        assert [a.id for a in await qs] == [1]
        assert "FOR UPDATE" in qs.sql()
        assert "NOWAIT" in A.select_for_update(nowait=True).sql()


async def test_explain_and_sql(fixed: sx.Database) -> None:
    plan = await A.filter(age__gt=3).explain()
    assert isinstance(plan, str) and plan
    shown = A.filter(name="O'Brien; --").sql()
    assert "'O''Brien; --'" in shown or "O\\'Brien" in shown


class NotEqual(sx.Lookup):
    name = "q_ne"

    def build(self, column: Any, value: Any) -> Any:
        return column != value


class Doubled(sx.Transform):
    name = "q_doubled"
    output = int

    def applies_to(self, type_: Any) -> bool:
        return isinstance(type_, sa.Integer)

    def build(self, expression: Any) -> Any:
        return expression * 2


async def test_custom_lookup_and_transform(fixed: sx.Database) -> None:
    sx.register_lookup(NotEqual)
    sx.register_lookup(Doubled)
    assert await _ids(A.filter(age__q_ne=30).order_by("id")) == [3, 4, 6]
    assert await _ids(A.filter(age__q_doubled=60).order_by("id")) == [1, 5]
    assert await _ids(A.filter(age__q_doubled__gt=70)) == [4]
    with pytest.raises(sx.FieldError, match="q_doubled"):
        A.filter(name__q_doubled=2)
    with pytest.raises(ValueError):
        sx.register_lookup(type("Bad", (sx.Lookup,), {"name": "a__b"}))


async def test_errors_name_the_model_the_name_and_the_fix(fixed: sx.Database) -> None:
    with pytest.raises(sx.FieldError) as info:
        A.filter(nmae="x")
    message = str(info.value)
    assert "QAuthor has no field 'nmae' (in filter). Did you mean 'name'?" in message
    assert "books (reverse of QBook.author)" in message
    with pytest.raises(sx.FieldError, match="startwith.*Did you mean 'startswith'"):
        A.filter(name__startwith="A")
    with pytest.raises(sx.FieldError, match="QBook has no field 'titel'"):
        A.filter(books__titel="A")
    with pytest.raises(sx.FieldError, match="order_by"):
        A.order_by("agee")
    with pytest.raises(sx.FieldError, match="values"):
        A.values("nope")
    with pytest.raises(sx.ValidationError, match="age"):
        await A.filter(age="abc")
    with pytest.raises(sx.ValidationError):
        await A.filter(age__gt=None)
    with pytest.raises(TypeError, match="slice"):
        A.all()[1:2].filter(age=1)


async def test_long_in_lists_bind_one_parameter(fixed: sx.Database) -> None:
    ids = list(range(-40_000, 0)) + [1, 4]
    assert await _ids(A.filter(id__in=ids).order_by("id")) == [1, 4]
    assert await A.exclude(id__in=ids).count() == 4
    names = [f"n{i}" for i in range(5_000)] + ["Ann", "éva"]
    assert await _ids(A.filter(name__in=names)) == [1]
    with captured(fixed) as statements:
        await A.filter(id__in=ids).count()
    assert len(statements[0]) < 500  # one parameter, not 40,002 placeholders


async def test_distinct_shows_what_it_orders_by(fixed: sx.Database) -> None:
    ordered = B.distinct().order_by("author__name", "-id")
    assert await _ids(ordered) == [2, 1, 4, 3, 5]
    assert await ordered.values_list("title", flat=True) == ["Beta", "Alpha", None, "Alpha", "Gamma"]
    assert await B.values("author__name").distinct().order_by("author__name").count() == 3
