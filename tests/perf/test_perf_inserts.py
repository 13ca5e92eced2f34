"""The flush's one-statement-per-chunk INSERT (``_insert.py``) writes and answers exactly as
SQLAlchemy's insertmanyvalues path: same rows, same keys on the same objects, same identity
map and rollback behaviour, same errors. The other path is forced by making
``insert_returning_keys`` decline (return None)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx import _insert
from sqlmodelx import session as session_module


class PerfRow(sx.Model):
    __tablename__ = "perf_row"
    name: str = sx.Field(max_length=40, unique=True)
    size: int | None = None
    price: Decimal | None = sx.Field(default=None, max_digits=7, decimal_places=2)
    seen: dt.datetime | None = None
    flag: bool = False


class PerfDoc(sx.Model):
    """A JSON field: not a plain column, so the batch stays on SQLAlchemy's path."""

    __tablename__ = "perf_doc"
    data: dict[str, Any] | None = None


class PerfChild(sx.Model):
    __tablename__ = "perf_child"
    label: str = sx.Field(max_length=20)
    parent: PerfRow = sx.ForeignKey(related_name="perf_children", on_delete="CASCADE")


PARIS = dt.timezone(dt.timedelta(hours=2))


def rows(n: int, prefix: str = "r") -> list[PerfRow]:
    return [
        PerfRow(
            name=f"{prefix}{i:04d}",
            size=None if i % 7 == 0 else i,
            price=Decimal(i) / 4,
            seen=dt.datetime(2024, 1, 1, 12, tzinfo=PARIS) + dt.timedelta(minutes=i) if i % 3 else None,
            flag=bool(i % 2),
        )
        for i in range(n)
    ]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Records what the fast path answered (a list of keys, or None when it declined)."""
    seen: list[Any] = []
    real = _insert.insert_returning_keys

    def spy(*args: Any) -> Any:
        result = real(*args)
        seen.append(result)
        return result

    monkeypatch.setattr(session_module, "insert_returning_keys", spy)
    yield seen


@pytest.fixture
def slow_path(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use() -> None:
        monkeypatch.setattr(session_module, "insert_returning_keys", lambda *args: None)

    return use


def state(objects: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(sorted((k, v) for k, v in o.__dict__.items() if k != "_sx_session")) for o in objects]


async def table_rows(db: sx.Database, model: Any) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(sa.select(model.__table__).order_by(model.__table__.c.id))
        return [tuple(r)[1:] for r in result]


@pytest.mark.parametrize("count", [2, 1500])
async def test_fast_insert_writes_and_answers_as_insertmanyvalues(
    sx_database: sx.Database, calls: list[Any], slow_path: Any, count: int
) -> None:
    db = sx_database
    fast = rows(count)
    async with db.session() as s:
        await PerfRow.objects.bulk_create(fast)
        for o in fast[:5]:
            assert await PerfRow.objects.get(id=o.id) is o
        assert s.identity_map.get(PerfRow.__sx_plan__, fast[-1].id) is fast[-1]
    fast_table = await table_rows(db, PerfRow)
    applies = db.dialect.name in ("sqlite", "postgresql") or getattr(db.dialect, "is_mariadb", False)
    assert (calls[-1] is not None) == applies
    ids = [o.id for o in fast]
    assert ids == sorted(ids) and len(set(ids)) == count
    async with db.engine.begin() as conn:
        await conn.execute(PerfRow.__table__.delete())
    slow_path()
    slow = rows(count)
    async with db.session():
        await PerfRow.objects.bulk_create(slow)
    assert await table_rows(db, PerfRow) == fast_table
    offset = slow[0].id - fast[0].id  # keys keep counting on PostgreSQL and MariaDB
    assert [o.id - offset for o in slow] == ids
    for o in slow:
        o.__dict__["id"] -= offset
        o.__dict__["_sx_vals"] = tuple(v - offset if n == "id" else v for n, v in zip(o._sx_cols, o._sx_vals, strict=True))
    assert state(slow) == state(fast)


async def test_fast_insert_in_chunks(sx_database: sx.Database, calls: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_insert, "PG_CHUNK", 7)
    monkeypatch.setattr(sx_database.dialect, "insertmanyvalues_page_size", 7)
    objects = rows(30)
    async with sx_database.session():
        await PerfRow.objects.bulk_create(objects)
    assert [o.id for o in objects] == sorted(o.id for o in objects)
    got = {o.name: o.id for o in await PerfRow.objects.all()}
    assert got == {o.name: o.id for o in objects}


async def test_rollback_forgets_the_keys(sx_database: sx.Database, calls: list[Any]) -> None:
    objects = rows(5)
    async with sx_database.session() as s:
        await PerfRow.objects.bulk_create(objects)
        assert all(o.id is not None for o in objects)
        await s.rollback()
    assert all("id" not in o.__dict__ and "_sx_cols" not in o.__dict__ for o in objects)
    assert await PerfRow.objects.count() == 0


async def test_same_errors(sx_database: sx.Database, calls: list[Any], slow_path: Any) -> None:
    messages = []
    for use_slow in (False, True):
        if use_slow:
            slow_path()
        async with sx_database.session():
            await PerfRow.objects.bulk_create(rows(3, "dup"))
        with pytest.raises(sx.IntegrityError) as raised:
            async with sx_database.session():
                await PerfRow.objects.bulk_create(rows(3, "dup"))
        messages.append(type(raised.value.__cause__.orig) if raised.value.__cause__ else None)  # type: ignore[union-attr]
        assert await PerfRow.objects.count() == 3
        async with sx_database.engine.begin() as conn:
            await conn.execute(PerfRow.__table__.delete())
    assert messages[0] == messages[1]


async def test_other_columns_keep_sqlalchemys_path(sx_database: sx.Database, calls: list[Any]) -> None:
    docs = [PerfDoc(data={"n": i, "list": [i]}) for i in range(3)]
    async with sx_database.session():
        await PerfDoc.objects.bulk_create(docs)
    assert all(result is None for result in calls)
    assert sorted(d.data["n"] for d in await PerfDoc.objects.all()) == [0, 1, 2]  # type: ignore[index]


async def test_children_of_new_parents(sx_database: sx.Database, calls: list[Any]) -> None:
    parents = rows(3, "p")
    children = [PerfChild(label=f"c{i}", parent=parents[i % 3]) for i in range(6)]
    async with sx_database.session():
        await PerfChild.objects.bulk_create(children)  # the parents are inserted first, with them
    assert all(c.parent_id == c.parent.id for c in children)
    async with sx_database.session():
        stored = {c.label: c.parent_id for c in await PerfChild.objects.all()}
    assert stored == {c.label: c.parent.id for c in children}


async def test_values_changed_after_construction_are_validated(sx_database: sx.Database) -> None:
    """The flush skips validating again only the values the constructor validated itself."""
    changed = rows(3, "v")
    changed[1].size = "not a number"  # type: ignore[assignment]
    with pytest.raises(sx.ValidationError, match="size"):
        async with sx_database.session():
            await PerfRow.objects.bulk_create(changed)
    longer = rows(2, "w")
    longer[0].name = "x" * 41
    with pytest.raises(sx.ValidationError, match="name"):
        async with sx_database.session():
            await PerfRow.objects.bulk_create(longer)
    coerced = rows(2, "c")
    coerced[0].size = "12"  # type: ignore[assignment]  # converted at flush, as always
    async with sx_database.session():
        await PerfRow.objects.bulk_create(coerced)
    assert coerced[0].size == 12
    assert await PerfRow.objects.count() == 2
