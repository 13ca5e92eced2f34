"""Many new rows' keys on MariaDB read from the INSERT's first key (``_insert._consecutive_keys``)
instead of RETURNING: the same keys on the same objects as the RETURNING path, and the
RETURNING path whenever the server does not guarantee consecutive keys (another
``auto_increment_increment``, a table that is not InnoDB, an INSERT trigger)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx import _insert
from sqlmodelx.testing import capture_queries

ROWS = 1_500  # more than CONSECUTIVE_MIN, and more than one 1,000-row chunk


class KeyedRow(sx.Model):
    __tablename__ = "perf_keyed_row"
    name: str = sx.Field(max_length=20, unique=True)
    size: int = 0


class AriaRow(sx.Model):
    """Not InnoDB on MariaDB (other backends ignore the option)."""

    __tablename__ = "perf_aria_row"
    __table_args__ = {"mysql_engine": "Aria"}
    name: str = sx.Field(max_length=20, unique=True)


class SequenceRow(sx.Model):
    """A key from a sequence (on MariaDB a DEFAULT NEXTVAL, no AUTO_INCREMENT: the INSERT
    reports no first key; SQLite ignores the sequence)."""

    __tablename__ = "perf_sequence_row"
    id: int = sx.Field(sa_column=sa.Column(sa.Integer, sa.Sequence("perf_sequence_row_id"), primary_key=True))
    name: str = sx.Field(max_length=20, unique=True)


def objects(model: type[sx.Model], prefix: str = "r") -> list[sx.Model]:
    return [model(name=f"{prefix}{i:05d}") for i in range(ROWS)]


async def check_keys(db: sx.Database, model: type[sx.Model], built: list[sx.Model]) -> list[str]:
    """bulk_create ``built``; every object must hold its row's key, in the identity map and
    its snapshot. Returns the statements sent."""
    async with db.session() as session:
        with capture_queries(db) as log:
            await model.objects.bulk_create(built)
        plan = model.__sx_plan__
        for obj in built:
            assert session.identity_map.get(plan, obj.id) is obj
            assert obj.__dict__["_sx_vals"][0] == obj.id
    async with db.session():
        stored = {row.name: row.id for row in await model.objects.filter(name__in=[o.name for o in built])}
    assert stored == {obj.name: obj.id for obj in built}
    return log.statements


async def test_keys_match_their_rows_on_every_backend(sx_database: sx.Database) -> None:
    await check_keys(sx_database, KeyedRow, objects(KeyedRow))
    await check_keys(sx_database, KeyedRow, objects(KeyedRow, "s"))  # after existing rows


async def test_keys_from_a_sequence_match_their_rows(sx_database: sx.Database) -> None:
    """MariaDB: no AUTO_INCREMENT key column, so no first key to count from: RETURNING."""
    sent = await check_keys(sx_database, SequenceRow, objects(SequenceRow))
    if getattr(sx_database.dialect, "is_mariadb", False):
        assert all("RETURNING" in sql for sql in sent if sql.startswith("INSERT"))


async def test_same_keys_as_the_returning_path(sx_database: sx.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths, one after the other: keys one apart per row, the same objects state."""
    first = objects(KeyedRow, "a")
    await check_keys(sx_database, KeyedRow, first)
    monkeypatch.setattr(_insert, "CONSECUTIVE_MIN", 10**9)
    second = objects(KeyedRow, "b")
    await check_keys(sx_database, KeyedRow, second)
    for batch in (first, second):
        ids = [obj.id for obj in batch]
        assert ids == list(range(ids[0], ids[0] + ROWS))
        assert {obj.__dict__["_sx_cols"] for obj in batch} == {("id", "name", "size")}


@pytest.mark.requires("auto_increment_settings", "returning")  # MariaDB, not MySQL
async def test_mariadb_reads_the_first_key_only_when_guaranteed(sx_database: sx.Database) -> None:
    sent = await check_keys(sx_database, KeyedRow, objects(KeyedRow))
    inserts = [sql for sql in sent if sql.startswith("INSERT")]
    assert len(inserts) == 2 and not any("RETURNING" in sql for sql in inserts)
    assert any("innodb_autoinc_lock_mode" in sql for sql in sent)


@pytest.mark.requires("auto_increment_settings")
async def test_mariadb_another_increment_returns_the_keys(sx_database: sx.Database) -> None:
    built = objects(KeyedRow)
    async with sx_database.session() as session:
        await session.execute(sa.text("SET SESSION auto_increment_increment = 3"))
        try:
            await KeyedRow.objects.bulk_create(built)
        finally:
            await session.execute(sa.text("SET SESSION auto_increment_increment = 1"))
    ids = [obj.id for obj in built]
    assert ids == list(range(ids[0], ids[0] + 3 * ROWS, 3))
    async with sx_database.session():
        assert {row.name: row.id for row in await KeyedRow.objects.all()} == {o.name: o.id for o in built}


@pytest.mark.requires("auto_increment_settings", "returning")  # MariaDB, not MySQL
async def test_mariadb_other_engines_and_triggers_return_the_keys(sx_database: sx.Database) -> None:
    sent = await check_keys(sx_database, AriaRow, objects(AriaRow))
    assert all("RETURNING" in sql for sql in sent if sql.startswith("INSERT"))
    async with sx_database.engine.begin() as conn:
        await conn.execute(sa.text(
            "CREATE TRIGGER perf_keyed_row_size BEFORE INSERT ON perf_keyed_row FOR EACH ROW SET NEW.size = NEW.size + 1"
        ))
    try:
        sent = await check_keys(sx_database, KeyedRow, objects(KeyedRow))
    finally:
        async with sx_database.engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER perf_keyed_row_size"))
    assert all("RETURNING" in sql for sql in sent if sql.startswith("INSERT"))
