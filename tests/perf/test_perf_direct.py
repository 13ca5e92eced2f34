"""The direct driver path (``_direct.py``) answers exactly as ``Connection.execute`` does.

Every query runs with the path on (twice or more: the first execution goes through
SQLAlchemy and teaches the path, the later ones bypass it) and off
(``_direct.enabled = False``), on every backend: same rows, same objects from the identity
map, same rowcounts, same exceptions, same transaction. Each test also checks that the
path was really taken (``_direct.learnt``), so that a silent fallback cannot pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx import _direct
from sqlmodelx.testing import capture_queries


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class DirectItem(sx.Model):
    __tablename__ = "direct_item"
    code: str = sx.Field(max_length=20, unique=True)
    qty: int = 0
    price: Decimal | None = sx.Field(default=None, max_digits=7, decimal_places=2)
    ratio: float | None = None
    seen: dt.datetime | None = None
    mood: Mood | None = None
    tags: dict[str, Any] | None = None


class DirectDoc(sx.Model):
    __tablename__ = "direct_doc"
    body: str = sx.Field(max_length=40)
    version: int = sx.VersionField()


UTC = dt.UTC
ITEMS = [
    {"code": "a", "qty": 1, "price": Decimal("1.50"), "ratio": 0.5, "seen": dt.datetime(2024, 5, 1, 12, tzinfo=UTC), "mood": Mood.HAPPY, "tags": {"k": [1, 2]}},
    {"code": "b", "qty": 2, "price": Decimal("20.00"), "mood": Mood.SAD},
    {"code": "c", "qty": 2},
    {"code": "€", "qty": 3, "ratio": -1.25, "tags": {}},
]


@pytest.fixture
async def db(sx_database: sx.Database) -> sx.Database:
    async with sx_database.session() as s:
        s.add_all(DirectItem(**fields) for fields in ITEMS)
        s.add(DirectDoc(body="first"))
    return sx_database


@contextmanager
def general() -> Iterator[None]:
    """``with general():`` runs the block through ``Connection.execute`` only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_direct, "enabled", False)
        yield


def values(obj: sx.Model) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in type(obj).__sx_plan__.fields}


def learnt(model: type[sx.Model], db: sx.Database) -> int:
    """How many of the model's templates run directly on this database's dialect."""
    shapes = model.__sx_plan__.__dict__.get("_sx_shapes", {})
    return sum(_direct.learnt(shape.statement, db.dialect) for shape in shapes.values() if shape.statement is not None)


async def reads() -> list[Any]:
    return [
        [values(i) for i in await DirectItem.objects.filter(qty=2).order_by("code")],
        values(await DirectItem.objects.get(code="a")),
        values(await DirectItem.objects.get(code="€")),
        [values(i) for i in await DirectItem.objects.filter(qty__gte=1).order_by("-qty", "code")[1:3]],
        await DirectItem.objects.filter(qty__lt=3).count(),
        await DirectItem.objects.filter(code="zz").exists(),
        await DirectItem.objects.filter(qty=2).aggregate(n=sx.Count("id"), top=sx.Max("price"), avg=sx.Avg("qty")),
        await DirectItem.objects.filter(code="nobody").aggregate(top=sx.Max("seen")),
    ]


@pytest.mark.parametrize("inside", [True, False], ids=["session", "outside"])
async def test_reads_answer_as_sqlalchemy(db: sx.Database, inside: bool) -> None:
    async def run() -> list[Any]:
        if not inside:
            return await reads()
        async with db.session():
            return await reads()

    with general():
        expected = await run()
    first = await run()  # teaches the path
    before = _direct.sent
    again = await run()  # runs on the driver
    assert _direct.sent - before == 8  # every read of reads() went directly
    assert first == expected
    assert again == expected
    assert learnt(DirectItem, db) >= 6
    # the processors ran: Decimal, aware datetime, enum and JSON come back typed
    item = expected[1]
    assert item["price"] == Decimal("1.50") and item["seen"] == dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert item["mood"] is Mood.HAPPY and item["tags"] == {"k": [1, 2]}


async def test_identity_map_as_sqlalchemy(db: sx.Database) -> None:
    for _ in range(2):
        await DirectItem.objects.get(code="b")  # learnt
    async with db.session() as s:
        one = await DirectItem.objects.get(code="b")
        same = await DirectItem.objects.get(code="b")
        assert same is one
        one.qty = 99  # flushed before the next query
        assert await DirectItem.objects.filter(qty=99).order_by("code") == [one]
        one.price = Decimal("7.00")
        await DirectItem.objects.using(s).filter(qty=99).update(price=Decimal("8.00"))  # behind its back
        again = await DirectItem.objects.get(code="b")
        assert again is one and one.price == Decimal("7.00")  # a read refreshes nothing the object holds
    only = await DirectItem.objects.get(code="c")
    assert "_sx_session" not in only.__dict__  # outside a session: detached


async def test_updates_and_rollback(db: sx.Database) -> None:
    async def bump(code: str) -> None:
        item = await DirectItem.objects.get(code=code)
        item.qty += 10
        await item.save()

    async with db.session():
        await bump("a")
        await bump("b")  # the keyed UPDATE of (qty) is learnt by now
    keyed = DirectItem.__sx_plan__.__dict__["_sx_keyed"]["update"]
    assert _direct.learnt(keyed, db.dialect, ("qty", "sx_pk_0"))
    before = _direct.sent
    with pytest.raises(RuntimeError):
        async with db.session():  # its first statements run directly: the transaction is still there
            await bump("c")
            await bump("€")
            raise RuntimeError("roll back")
    assert _direct.sent - before == 4
    assert {i.code: i.qty for i in await DirectItem.objects.order_by("code")} == {"a": 11, "b": 12, "c": 2, "€": 3}
    async with db.session() as s:
        await bump("c")
        async with s.begin_nested():
            await bump("€")
        with pytest.raises(ValueError):
            async with s.begin_nested():
                await bump("a")
                raise ValueError("undo the savepoint")
    assert {i.code: i.qty for i in await DirectItem.objects.order_by("code")} == {"a": 11, "b": 12, "c": 12, "€": 13}


async def test_errors_as_sqlalchemy(db: sx.Database) -> None:
    async def duplicate(name: str) -> type[BaseException]:
        async with db.session() as s:
            for code in ("a", "b"):  # learns, then runs directly
                item = await DirectItem.objects.get(code=code)
                item.ratio = 2.0
                await item.save()
            item = await DirectItem.objects.get(code="c")
            for code, ratio in (("c2", 3.0), ("c", 4.0)):  # learns the (code, ratio) UPDATE
                item.code, item.ratio = code, ratio
                await item.save()
            item.ratio = 5.0
            item.code = name  # breaks the unique constraint
            with pytest.raises(sx.IntegrityError) as failed:
                await item.save()
            with pytest.raises(sx.SessionError):
                await DirectItem.objects.count()  # the failed scope refuses work until rollback
            await s.rollback()
            assert await DirectItem.objects.get(code="c")  # usable again
            return type(failed.value.__cause__)

    with general():
        expected = await duplicate("a")
    assert await duplicate("b") is expected
    assert _direct.learnt(DirectItem.__sx_plan__.__dict__["_sx_keyed"]["update"], db.dialect, ("code", "ratio", "sx_pk_0"))
    assert await DirectItem.objects.get(code="c")  # nothing was written


async def test_read_error_after_ddl(sx_database: sx.Database) -> None:
    db = sx_database
    for _ in range(2):
        await DirectDoc.objects.filter(body="x").count()
    assert learnt(DirectDoc, db) == 1
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE direct_doc"))
    try:
        with general(), pytest.raises(sa.exc.DBAPIError) as expected:
            await DirectDoc.objects.filter(body="x").count()
        before = _direct.sent
        with pytest.raises(sa.exc.DBAPIError) as got:
            await DirectDoc.objects.filter(body="x").count()
        assert type(got.value) is type(expected.value)
        assert type(got.value.orig) is type(expected.value.orig)
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(DirectDoc.__table__.create)
    assert _direct.sent == before + 1
    await DirectDoc.objects.create(body="back")  # the connection was left usable
    assert await DirectDoc.objects.filter(body="back").count() == 1


async def test_version_conflict_is_stale(db: sx.Database) -> None:
    async def edit(text: str) -> None:
        async with db.session():
            doc = await DirectDoc.objects.get(body__startswith="f")
            doc.body = text
            await doc.save()

    await edit("f2")
    await edit("f3")  # learnt: the (body, version) UPDATE with its version check
    async with db.session(join=False) as first:
        mine = await DirectDoc.objects.using(first).get(body="f3")
    await edit("f4")  # another transaction moves the version on
    mine.body = "mine"
    with pytest.raises(sx.StaleObjectError):
        await mine.save()
    assert (mine.body, mine.version) == ("f3", 3)  # rolled back to what it had read
    assert (await DirectDoc.objects.get(body="f4")).version == 4
    keyed = DirectDoc.__sx_plan__.__dict__["_sx_keyed"]["update"]
    assert _direct.learnt(keyed, db.dialect, ("body", "sx_pk_0", "sx_version", "version"))


async def test_listeners_see_every_statement(db: sx.Database) -> None:
    for _ in range(2):
        await DirectItem.objects.get(code="a")
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", listener)
    try:
        async with db.session():
            for code in ("a", "b", "c"):
                await DirectItem.objects.get(code=code)
        await DirectItem.objects.get(code="a")
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", listener)
    assert sum("direct_item" in statement for statement in seen) == 4
    with capture_queries(db) as log:
        await DirectItem.objects.get(code="a")
        async with db.session():
            await DirectItem.objects.get(code="b")
    assert len(log.selects) == 2


async def test_cancelled_statement_as_sqlalchemy(db: sx.Database) -> None:
    """A task cancelled while its keyed UPDATE waits for a row lock: SQLAlchemy invalidates
    the connection (its state mid-statement is unknown); the direct path must too, or the
    statement's late answer is taken for the next command's."""

    async def bump(code: str, qty: int) -> None:
        item = await DirectItem.objects.get(code=code)
        item.qty = qty
        await item.save()

    async def blocked() -> None:
        async with db.session(join=False):
            await bump("a", 60)

    async def run() -> list[Any]:
        await DirectItem.objects.filter(code="a").update(qty=1)
        async with db.session(join=False):
            await bump("a", 50)  # holds the row's lock until the block ends
            task = asyncio.create_task(blocked())
            await asyncio.sleep(0.4)
            task.cancel()
        done, _ = await asyncio.wait([task], timeout=10)  # its cleanup ends once the lock is free
        assert done and task.cancelled()
        return [values(i) for i in await DirectItem.objects.order_by("code")] + [
            await DirectItem.objects.filter(qty__gte=0).count() for _ in range(4)
        ]

    async with db.session():
        for qty in (7, 8):  # teaches the keyed UPDATE of (qty)
            await bump("b", qty)
    keyed = DirectItem.__sx_plan__.__dict__["_sx_keyed"]["update"]
    assert _direct.learnt(keyed, db.dialect, ("qty", "sx_pk_0"))
    with general():
        expected = await run()
    before = _direct.sent
    assert await run() == expected
    assert db.dialect.name == "sqlite" or _direct.sent > before  # the UPDATE went directly


class Checked(sa.types.TypeDecorator[str]):
    """A column type whose bind processing refuses a value (as an encrypting or validating type may)."""

    impl = sa.String(20)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value == "refused":
            raise ValueError("refused by the column type")
        return value


class DirectChecked(sx.Model):
    __tablename__ = "direct_checked"
    label: str = sx.Field(default="", sa_type=Checked())


async def test_bind_processor_error_as_sqlalchemy(sx_database: sx.Database) -> None:
    db = sx_database
    await DirectChecked.objects.create(label="x")

    async def run() -> list[Any]:
        got: list[Any] = []
        for label in ("y", "z", "refused"):  # learns, runs directly, then the type refuses
            try:
                got.append(await DirectChecked.objects.filter(label=label).count())
            except Exception as error:  # noqa: BLE001 - compared below
                got.append((type(error), type(error.__cause__), str(error)))
        async with db.session() as s:
            item = await DirectChecked.objects.get(label="x")
            for label in ("x1", "x2", "refused"):
                item.label = label
                try:
                    await item.save()
                    got.append(label)
                except Exception as error:  # noqa: BLE001 - compared below
                    got.append((type(error), type(error.__cause__), str(error)))
                    await s.rollback()
                    break
        return got

    with general():
        expected = await run()
    await DirectChecked.objects.filter(label__startswith="x").update(label="x")
    assert await run() == expected
    assert learnt(DirectChecked, db) >= 1


async def test_stale_prepared_statement_after_ddl_elsewhere(db: sx.Database, sx_backend: Any) -> None:
    """Another client changes a column's type: a statement prepared before fails once (as
    through SQLAlchemy, which then invalidates the dialect's prepared statements), not again."""
    qs = DirectItem.objects.filter(code="a")
    statement, parameters = qs._executable(db.dialect)
    assert parameters is not None

    async def read(conn: Any) -> Any:
        try:
            async with conn.begin():
                return list(await _direct.fetch(conn, statement, parameters))
        except sa.exc.DBAPIError as error:
            return type(error.orig)

    async def run() -> list[Any]:
        async with db.engine.connect() as conn:
            first = [await read(conn) for _ in range(2)]  # learnt and prepared on this connection
            other = sx.Database(sx_backend.url, default=False)
            try:
                changed = DirectItem.__table__.to_metadata(sa.MetaData())
                changed.c.qty.type = sa.BigInteger()  # another type for a selected column
                async with other.engine.begin() as ddl:
                    saved = (await ddl.execute(sa.select(changed))).all()
                    await ddl.run_sync(changed.drop)
                    await ddl.run_sync(changed.create)
                    if saved:
                        await ddl.execute(changed.insert(), [row._asdict() for row in saved])
            finally:
                await other.dispose()
            return first + [await read(conn) for _ in range(3)]

    async def restore() -> None:
        async with db.engine.begin() as ddl:
            saved = (await ddl.execute(sa.select(DirectItem.__table__))).all()
            await ddl.run_sync(DirectItem.__table__.drop)
            await ddl.run_sync(DirectItem.__table__.create)
            await ddl.execute(DirectItem.__table__.insert(), [row._asdict() for row in saved])

    with general():
        expected = await run()
    await restore()
    got = await run()
    await restore()
    assert _direct.learnt(statement, db.dialect)
    assert got == expected
    assert got[-1] == expected[0]  # usable again by the end


_edits = iter(range(1, 1_000_000))


class DirectStamped(sx.Model):
    """A column with a Python ``onupdate``: SQLAlchemy computes a new value at each UPDATE."""

    __tablename__ = "direct_stamped"
    body: str = sx.Field(max_length=20)
    edits: int = sx.Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0, onupdate=lambda: next(_edits)))


async def test_onupdate_computed_at_each_execution(sx_database: sx.Database) -> None:
    db = sx_database

    async def run() -> list[int]:
        stamps = []
        async with db.session():
            doc = await DirectStamped.objects.create(body="x")
            for text in ("a", "b", "c"):  # learns the UPDATE of (body), then runs it directly
                doc.body = text
                await doc.save()
                await doc.refresh()
                stamps.append(doc.edits)
        return stamps

    with general():
        expected = await run()
    got = await run()
    assert len(set(expected)) == 3
    assert len(set(got)) == 3, got  # a new value each time, not the first execution's forever


@pytest.mark.parametrize("event", ["begin", "do_execute"])
async def test_begin_and_dialect_listeners_see_every_read(db: sx.Database, event: str) -> None:
    """A ``begin`` listener (per-transaction settings) runs for each read outside a session,
    and a dialect's ``do_execute`` listener sees each statement, as through SQLAlchemy."""
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(event)

    async def run() -> int:
        seen.clear()
        engine = db.engine.sync_engine
        sa.event.listen(engine, event, listener)
        try:
            for code in ("a", "b", "c"):
                await DirectItem.objects.get(code=code)
            async with db.session():
                await DirectItem.objects.get(code="a")
        finally:
            sa.event.remove(engine, event, listener)
        return len(seen)

    for _ in range(2):
        await DirectItem.objects.get(code="a")  # learnt
    with general():
        expected = await run()
    assert expected >= 4
    assert await run() == expected


async def test_fetch_all_gives_rows(db: sx.Database) -> None:
    """``fetch_all(statement, parameters)`` answers ``list[Row]`` (the runner protocol) on every call:
    names and ``_mapping`` work after the statement is learnt, too."""
    table = DirectItem.__table__
    statement = sa.select(table.c.code, table.c.price).where(table.c.qty == sa.bindparam("qty")).order_by(table.c.code)

    async def run() -> list[Any]:
        got = []
        for _ in range(3):
            rows = await db.fetch_all(statement, {"qty": 2})
            got.append([(row.code, row._mapping["price"], tuple(row)) for row in rows])
            async with db.session() as s:
                rows = await s.fetch_all(statement, {"qty": 2})
                got.append([(row.code, row._mapping["price"], tuple(row)) for row in rows])
        return got

    with general():
        expected = await run()
    assert await run() == expected
    assert _direct.learnt(statement, db.dialect)
