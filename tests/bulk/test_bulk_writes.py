"""bulk_create with conflicts, upsert and bulk_update: rows read back, statements counted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx.testing import capture_queries


class BulkMember(sx.Model):
    email: str = sx.Field(max_length=100, unique=True)
    name: str = sx.Field(max_length=50)
    score: int = 0
    seen_at: dt.datetime | None = None
    tags: list[str] = sx.Field(default_factory=list)


UTC = dt.UTC


async def _table(db: sx.Database, *columns: Any) -> list[tuple[Any, ...]]:
    """Rows read back through a plain connection, ordered by the first column."""
    async with db.engine.connect() as conn:
        result = await conn.execute(sa.select(*columns).order_by(columns[0]))
        return [tuple(r) for r in result]


async def _rows(db: sx.Database) -> list[tuple[Any, ...]]:
    return await _table(db, BulkMember.email, BulkMember.name, BulkMember.score)


async def test_bulk_create_sets_keys_and_joins_the_session(sx_database: sx.Database) -> None:
    async with sx_database.session():
        members = await BulkMember.objects.bulk_create(
            [BulkMember(email=f"m{i}@x", name=f"m{i}") for i in range(25)], batch_size=10
        )
        assert all(m.id is not None for m in members)
        assert len({m.id for m in members}) == 25
        assert await BulkMember.objects.get(email="m3@x") is members[3]
    assert len(await _rows(sx_database)) == 25


async def test_on_conflict_ignore_keeps_existing_rows(sx_database: sx.Database) -> None:
    await BulkMember.objects.create(email="a@x", name="old", score=1)
    await BulkMember.objects.bulk_create(
        [BulkMember(email="a@x", name="new", score=9), BulkMember(email="b@x", name="b", score=2)],
        on_conflict="ignore",
        unique_fields=["email"],
    )
    assert await _rows(sx_database) == [("a@x", "old", 1), ("b@x", "b", 2)]


async def test_on_conflict_update_and_upsert(sx_database: sx.Database) -> None:
    await BulkMember.objects.create(email="a@x", name="old", score=1)
    await BulkMember.objects.bulk_create(
        [BulkMember(email="a@x", name="new", score=9), BulkMember(email="b@x", name="b", score=2)],
        on_conflict="update",
        unique_fields=["email"],
        update_fields=["name"],
    )
    assert await _rows(sx_database) == [("a@x", "new", 1), ("b@x", "b", 2)]
    await BulkMember.objects.upsert(
        [BulkMember(email="b@x", name="bee", score=5), BulkMember(email="c@x", name="c", score=3)],
        unique_fields=["email"],
    )
    assert await _rows(sx_database) == [("a@x", "new", 1), ("b@x", "bee", 5), ("c@x", "c", 3)]


async def test_bulk_update_is_one_statement_per_batch(sx_database: sx.Database) -> None:
    at = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    async with sx_database.session():
        members = await BulkMember.objects.bulk_create(
            [BulkMember(email=f"m{i}@x", name=f"m{i}") for i in range(12)]
        )
        for i, m in enumerate(members):
            m.score = i * 10
            m.seen_at = at
            m.tags = [f"t{i}"]
        with capture_queries(sx_database) as log:
            matched = await BulkMember.objects.bulk_update(members, ["score", "seen_at", "tags"], batch_size=5)
        assert matched == 12
        assert [q.statement.split()[0] for q in log] == ["UPDATE"] * 3
        with capture_queries(sx_database) as log:
            pass
    assert not [q for q in log if q.statement.startswith("UPDATE")]  # nothing left to flush
    again = await BulkMember.objects.order_by("id")
    assert [m.score for m in again] == [i * 10 for i in range(12)]
    assert all(m.seen_at == at for m in again) and again[4].tags == ["t4"]


async def test_commit_after_bulk_update_writes_only_other_changes(sx_database: sx.Database) -> None:
    async with sx_database.session():
        member = await BulkMember.objects.create(email="a@x", name="a")
    async with sx_database.session() as s:
        member = await BulkMember.objects.get(email="a@x")
        member.score = 7
        member.name = "changed later"
        await BulkMember.objects.bulk_update([member], ["score"])
        with capture_queries(sx_database) as log:
            await s.flush()
        (update,) = log.statements
        assert "name" in update and "score" not in update.split("WHERE")[0]
    assert await _rows(sx_database) == [("a@x", "changed later", 7)]


async def test_rollback_undoes_bulk_update_in_memory(sx_database: sx.Database) -> None:
    await BulkMember.objects.create(email="a@x", name="a", score=1)
    with pytest.raises(RuntimeError):
        async with sx_database.session():
            member = await BulkMember.objects.get(email="a@x")
            member.score = 99
            await BulkMember.objects.bulk_update([member], ["score"])
            raise RuntimeError("boom")
    assert member.score == 1
    assert await _rows(sx_database) == [("a@x", "a", 1)]


async def test_bad_bulk_input(sx_database: sx.Database) -> None:
    saved = await BulkMember.objects.create(email="a@x", name="a")
    with pytest.raises(sx.FieldError, match="nmae"):
        await BulkMember.objects.bulk_update([saved], ["nmae"])
    with pytest.raises(ValueError, match="primary key"):
        await BulkMember.objects.bulk_update([saved], ["id"])
    with pytest.raises(ValueError, match="never saved"):
        await BulkMember.objects.bulk_update([BulkMember(email="n@x", name="n")], ["name"])
    with pytest.raises(ValueError, match="on_conflict"):
        await BulkMember.objects.bulk_create([BulkMember(email="n@x", name="n")], on_conflict="replace")  # type: ignore[arg-type]
    saved.name = "x" * 51
    with pytest.raises(sx.ValidationError):
        await BulkMember.objects.bulk_update([saved], ["name"])
    with pytest.raises(sx.ValidationError):
        BulkMember(email="bad@x", name="y" * 51)  # caught before any bulk call can send it
    assert await _rows(sx_database) == [("a@x", "a", 0)]


class BulkVersioned(sx.Model):
    code: str = sx.Field(max_length=10, unique=True)
    amount: int = 0
    version: int = sx.VersionField()


async def _versions(db: sx.Database) -> list[tuple[Any, ...]]:
    return await _table(db, BulkVersioned.code, BulkVersioned.amount, BulkVersioned.version)


async def test_bulk_update_checks_and_bumps_the_version(sx_database: sx.Database) -> None:
    await BulkVersioned.objects.bulk_create([BulkVersioned(code="a"), BulkVersioned(code="b")])
    first = await BulkVersioned.objects.order_by("code")
    stale = await BulkVersioned.objects.order_by("code")
    for row in first:
        row.amount = 5
    assert await BulkVersioned.objects.bulk_update(first, ["amount"]) == 2
    assert [r.version for r in first] == [2, 2]
    assert await _versions(sx_database) == [("a", 5, 2), ("b", 5, 2)]
    for row in stale:
        row.amount = 99
    with pytest.raises(sx.StaleObjectError, match="nothing was written"):
        await BulkVersioned.objects.bulk_update(stale, ["amount"])
    assert await _versions(sx_database) == [("a", 5, 2), ("b", 5, 2)]
    with pytest.raises(ValueError, match="bumps version itself"):
        await BulkVersioned.objects.bulk_update(first, ["version"])


async def test_upsert_bumps_the_version_instead_of_resetting_it(sx_database: sx.Database) -> None:
    row = await BulkVersioned.objects.create(code="a", amount=1)
    row.amount = 2
    await row.save()
    await BulkVersioned.objects.upsert([BulkVersioned(code="a", amount=7)], unique_fields=["code"])
    assert await _versions(sx_database) == [("a", 7, 3)]


async def test_update_or_create_checks_defaults_before_touching_the_object(sx_database: sx.Database) -> None:
    await BulkMember.objects.create(email="a@x", name="a", score=1)
    async with sx_database.session():
        member = await BulkMember.objects.get(email="a@x")
        with pytest.raises(sx.ValidationError, match="score"):
            await BulkMember.objects.update_or_create(email="a@x", defaults={"score": "zz"})
        assert member.score == 1
        with pytest.raises(sx.FieldError, match="nmae"):
            await BulkMember.objects.update_or_create(email="a@x", defaults={"nmae": 1})
        assert "nmae" not in member.__dict__
        updated, created = await BulkMember.objects.update_or_create(email="a@x", defaults={"score": "5"})
        assert updated is member and not created and member.score == 5
    assert await _rows(sx_database) == [("a@x", "a", 5)]


async def test_write_statements_raise_one_integrity_error_class(sx_database: sx.Database) -> None:
    await BulkMember.objects.create(email="a@x", name="a")
    await BulkMember.objects.create(email="b@x", name="b")
    with pytest.raises(sx.IntegrityError, match="BulkMember") as info:
        await BulkMember.objects.filter(email="b@x").update(email="a@x")
    assert isinstance(info.value.__cause__, sa.exc.IntegrityError)
    assert await _rows(sx_database) == [("a@x", "a", 0), ("b@x", "b", 0)]


class BulkParent(sx.Model):
    name: str = sx.Field(max_length=20)


class BulkChild(sx.Model):
    name: str = sx.Field(max_length=20)
    parent: BulkParent = sx.ForeignKey(on_delete="CASCADE", related_name="children")
    guardian: BulkParent | None = sx.ForeignKey(on_delete="SET NULL", related_name="wards")


async def test_queryset_delete_updates_loaded_objects(sx_database: sx.Database) -> None:
    keep = await BulkParent.objects.create(name="keep")
    doomed = await BulkParent.objects.create(name="doomed")
    await BulkChild.objects.create(name="c1", parent=doomed)
    await BulkChild.objects.create(name="c2", parent=keep, guardian=doomed)
    async with sx_database.session() as s:
        parent = await BulkParent.objects.get(name="doomed")
        c1 = await BulkChild.objects.get(name="c1")
        c2 = await BulkChild.objects.get(name="c2")
        assert await BulkParent.objects.filter(name="doomed").delete() == 1
        with pytest.raises(BulkParent.DoesNotExist):
            await s.get(BulkParent, parent.id)       # not handed back from the identity map
        with pytest.raises(BulkChild.DoesNotExist):
            await s.get(BulkChild, c1.id)             # CASCADE, mirrored
        assert c2.guardian_id is None                 # SET NULL, mirrored
        c2.name = "still fine"                        # and the session can still commit
    async with sx_database.engine.connect() as conn:
        names = (await conn.execute(sa.select(BulkChild.name, BulkChild.guardian_id))).all()
    assert [tuple(r) for r in names] == [("still fine", None)]


async def test_queryset_delete_rolled_back_brings_objects_back(sx_database: sx.Database) -> None:
    doomed = await BulkParent.objects.create(name="doomed")
    with pytest.raises(RuntimeError):
        async with sx_database.session() as s:
            parent = await BulkParent.objects.get(id=doomed.id)
            await BulkParent.objects.filter(id=doomed.id).delete()
            raise RuntimeError("undo")
    assert parent.name == "doomed" and await BulkParent.objects.filter(id=doomed.id).exists()
    async with sx_database.session() as s:
        again = await s.get(BulkParent, doomed.id)
        assert again.name == "doomed"


async def test_bulk_update_reports_every_bad_object(sx_database: sx.Database) -> None:
    first, second = await BulkMember.objects.bulk_create(
        [BulkMember(email="a@x", name="a"), BulkMember(email="b@x", name="b")]
    )
    first.name = "x" * 51
    second.score = "many"  # type: ignore[assignment]
    with pytest.raises(sx.ValidationError) as info:
        await BulkMember.objects.bulk_update([first, second], ["name", "score"])
    assert [e["field"] for e in info.value.errors()] == ["[0].name", "[1].score"]
    assert await _rows(sx_database) == [("a@x", "a", 0), ("b@x", "b", 0)]
