"""update() and delete(): one statement each, the row count back, rules of the fields kept."""

from __future__ import annotations

import pytest
from queries_capture import captured
from queries_models import QAuthor, QBook, QChapter, QVersioned, load_fixed_data

import sqlmodelx as sx
from sqlmodelx import F, Q


@pytest.fixture
async def fixed(sx_database: sx.Database) -> sx.Database:
    await load_fixed_data(sx_database)
    return sx_database


async def test_update_is_one_statement_and_returns_the_count(fixed: sx.Database) -> None:
    with captured(fixed) as statements:
        count = await QAuthor.objects.filter(age=30).update(age=F("age") + 1, name="thirty")
    assert count == 2
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE")
    assert sorted(await QAuthor.objects.filter(age=31).values_list("id", flat=True)) == [1, 5]
    assert set(await QAuthor.objects.filter(age=31).values_list("name", flat=True)) == {"thirty"}
    # A row whose value does not change still counts as matched (MariaDB FOUND_ROWS).
    assert await QAuthor.objects.filter(id=1).update(age=31) == 1


@pytest.mark.parametrize(
    "condition",
    [
        Q(books__title="Alpha"),  # to-many: EXISTS
        Q(books__chapters__title="three"),  # two to-many hops
        ~Q(books__isnull=True) & Q(name__startswith="A"),
    ],
    ids=["reverse-fk", "two-hops", "negated"],
)
async def test_update_across_to_many_is_one_statement(fixed: sx.Database, condition: Q) -> None:
    expected = sorted(await QAuthor.objects.filter(condition).values_list("id", flat=True))
    with captured(fixed) as statements:
        count = await QAuthor.objects.filter(condition).update(rating=9)
    assert len(statements) == 1
    assert count == len(expected)
    assert sorted(await QAuthor.objects.filter(rating=9).values_list("id", flat=True)) == expected


async def test_update_and_delete_across_to_one_use_one_statement(fixed: sx.Database) -> None:
    with captured(fixed) as statements:
        assert await QBook.objects.filter(author__name="Ann").update(pages=F("pages") * 2) == 2
        assert await QChapter.objects.filter(book__author__name="Ann", title="one").delete() == 1
    assert len(statements) == 2
    assert sorted(await QBook.objects.filter(author=1).values_list("pages", flat=True)) == [200, 600]
    assert await QChapter.objects.count() == 2


async def test_delete_is_one_statement_and_returns_the_count(fixed: sx.Database) -> None:
    with captured(fixed) as statements:
        count = await QAuthor.objects.filter(books__isnull=True).delete()
    assert count == 3
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("DELETE")
    assert sorted(await QAuthor.objects.values_list("id", flat=True)) == [1, 2, 4]
    # ON DELETE CASCADE is the database's: the books of the deleted author go with it.
    assert await QAuthor.objects.filter(id=2).delete() == 1
    assert sorted(await QBook.objects.values_list("id", flat=True)) == [1, 2, 5]
    assert await QAuthor.objects.none().delete() == 0


async def test_update_checks_values_and_names(fixed: sx.Database) -> None:
    with pytest.raises(sx.ValidationError, match="name"):
        await QAuthor.objects.update(name="x" * 41)
    with pytest.raises(sx.FieldError, match="nmae"):
        await QAuthor.objects.update(nmae="x")
    with pytest.raises(sx.FieldError, match="relations"):
        await QBook.objects.update(pages=F("author__age"))
    with pytest.raises(TypeError, match="slice"):
        await QAuthor.objects.all()[:2].update(age=1)
    with pytest.raises(TypeError, match="slice"):
        await QAuthor.objects.all()[:2].delete()
    with pytest.raises(TypeError, match="values"):
        await QAuthor.objects.values("id").delete()
    assert await QAuthor.objects.filter(name="Ann").values_list("name", flat=True) == ["Ann"]


async def test_update_bumps_the_version_field(sx_database: sx.Database) -> None:
    a = await QVersioned.objects.create(name="a", stock=5)
    b = await QVersioned.objects.create(name="b", stock=5)
    assert (a.version, b.version) == (1, 1)
    with captured(sx_database) as statements:
        assert await QVersioned.objects.filter(name="a").update(stock=F("stock") - 1) == 1
    assert len(statements) == 1
    rows = await QVersioned.objects.order_by("name").values_list("name", "stock", "version")
    assert rows == [("a", 4, 2), ("b", 5, 1)]
    # The object loaded before the update is stale now: saving it is refused.
    async with sx_database.session() as s:
        stale = await QVersioned.objects.get(id=a.id)
        await QVersioned.objects.filter(id=a.id).update(stock=0)
        stale.stock = 100
        with pytest.raises(sx.StaleObjectError):
            await s.flush()
        await s.rollback()
    # The rollback undid the session's update as well.
    assert await QVersioned.objects.filter(id=a.id).values_list("stock", "version") == [(4, 2)]
