"""Concurrent sessions, cancellation, and the connection pool afterwards."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

import sqlmodelx as sx

from .conftest import committed_rows
from .models import SAuthor, SNode

TASKS = 100


def _idle(db: sx.Database) -> bool:
    pool = db.engine.pool
    return pool.checkedout() == 0 and pool.checkedin() <= pool.size()  # type: ignore[attr-defined]


async def test_100_tasks_each_see_only_their_own_uncommitted_rows(sx_database: sx.Database) -> None:
    async def work(n: int) -> list[str]:
        async with sx_database.session() as s:
            s.add_all([SAuthor(name=f"t{n}-{i}") for i in range(3)])
            await s.flush()
            await asyncio.sleep(0)                        # let the other tasks interleave
            seen = [a.name for a in await SAuthor.objects.order_by("name")]
            await s.rollback()
            return seen

    results = await asyncio.gather(*(work(n) for n in range(TASKS)))
    for n, seen in enumerate(results):
        assert seen == [f"t{n}-{i}" for i in range(3)]
    assert await committed_rows(sx_database, SAuthor) == []
    assert _idle(sx_database)


async def test_concurrent_writers_wait_for_each_other(sx_database: sx.Database) -> None:
    """On SQLite, read-then-write sessions would fail with "database is locked" under a
    plain BEGIN; writers open with BEGIN IMMEDIATE and queue instead (NOTES 11)."""
    account = await SAuthor.objects.create(name="counter")

    async def increment() -> None:
        async with sx_database.session():
            mine = await SAuthor.objects.get(id=account.id)
            await asyncio.sleep(0)
            mine.rating += 1

    await asyncio.gather(*(increment() for _ in range(10)))
    rows = await committed_rows(sx_database, SAuthor, "rating")
    assert rows[0][0] >= 1                                 # no error; lost updates are the
    assert _idle(sx_database)                              # isolation level's business


async def test_cancelled_writer_rolls_back_and_releases_its_connection(sx_database: sx.Database) -> None:
    wrote = asyncio.Event()

    async def writer() -> None:
        async with sx_database.session():
            await SAuthor.objects.create(name="cancelled")
            wrote.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(writer())
    await wrote.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _idle(sx_database)                              # released before the task ended
    async with asyncio.timeout(5):                         # the write lock is free again
        async with sx_database.session():
            await SAuthor.objects.create(name="next")
    assert await committed_rows(sx_database, SAuthor, "name") == [("next",)]


async def test_cancelled_during_a_statement(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        s.add_all([SNode(name=str(i)) for i in range(50)])
    a, b, c, d = (SNode.__table__.alias(n) for n in "abcd")
    slow = sa.select(sa.func.count()).select_from(a).join(b, sa.true()).join(c, sa.true()).join(d, sa.true())
    slow = slow.where(a.c.id + b.c.id + c.c.id > d.c.id)   # 6M rows: 0.2 s to 1.5 s
    started = asyncio.Event()

    async def writer() -> None:
        async with sx_database.session() as s:
            await SAuthor.objects.create(name="cancelled")
            started.set()
            await s.fetch_scalar(slow)

    task = asyncio.create_task(writer())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _idle(sx_database)
    async with asyncio.timeout(10):
        async with sx_database.session():
            await SAuthor.objects.create(name="next")
    assert await committed_rows(sx_database, SAuthor, "name") == [("next",)]
