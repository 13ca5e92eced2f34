"""Reads outside a session run as one statement without a transaction around them
(``Database._reading(single=True)``: autocommit on PostgreSQL, no BEGIN on SQLite). They
answer as reads inside a transaction do, and leave the pooled connection as they found it:
the next session still has its transaction, its rollback and its savepoints (NOTES 5)."""

from __future__ import annotations

import pytest

import sqlmodelx as sx


class PerfNote(sx.Model):
    __tablename__ = "perf_note"
    text: str = sx.Field(max_length=40)
    rank: int = 0


@pytest.fixture
async def db(sx_database: sx.Database) -> sx.Database:
    async with sx_database.session() as s:
        s.add_all(PerfNote(text=f"n{i}", rank=i % 3) for i in range(6))
    return sx_database


async def answers() -> tuple[object, ...]:
    return (
        [n.text for n in await PerfNote.objects.filter(rank=1).order_by("id")],
        await PerfNote.objects.filter(rank__gte=1).count(),
        await PerfNote.objects.filter(rank=2).exists(),
        await PerfNote.objects.aggregate(top=sx.Max("rank")),
        list(await PerfNote.objects.order_by("id").values_list("text", flat=True)),
    )


async def test_reads_outside_answer_as_inside(db: sx.Database) -> None:
    outside = await answers()
    async with db.session():
        inside = await answers()
    assert outside == inside
    found = await PerfNote.objects.get(text="n4")
    assert "_sx_session" not in found.__dict__  # detached, as before


async def test_connection_is_left_ready_for_transactions(db: sx.Database) -> None:
    for _ in range(3):  # every pooled connection has served a read outside a session
        assert await PerfNote.objects.count() == 6
    with pytest.raises(RuntimeError):
        async with db.session():
            await PerfNote.objects.create(text="gone")
            assert await PerfNote.objects.count() == 7
            raise RuntimeError("roll back")
    assert await PerfNote.objects.count() == 6
    assert await PerfNote.objects.filter(text="n0").exists()
    async with db.session() as s:
        async with s.begin_nested():  # a SAVEPOINT as the first statement of the transaction
            await PerfNote.objects.create(text="kept")
        with pytest.raises(ValueError):
            async with s.begin_nested():
                await PerfNote.objects.create(text="undone")
                raise ValueError
    assert sorted(await PerfNote.objects.filter(text__in=["kept", "undone"]).values_list("text", flat=True)) == [
        "kept"
    ]


async def test_a_read_sees_committed_writes_at_once(db: sx.Database) -> None:
    async with db.session():
        await PerfNote.objects.filter(rank=0).update(rank=9)
    assert await PerfNote.objects.filter(rank=9).count() == 2
    note = await PerfNote.objects.get(text="n1")
    note.rank = 5
    await note.save()  # outside a session: its own transaction
    assert (await PerfNote.objects.get(text="n1")).rank == 5
