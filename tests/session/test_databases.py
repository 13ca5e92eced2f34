"""Many databases, read replicas, isolation levels, read-only sessions, pool options."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

import sqlmodelx as sx

from .conftest import committed_rows
from .models import SAuthor, SItem

LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


async def _only(db_or_engine: sx.Database | object, label: str) -> None:
    """Make SItem hold exactly one row, ``label``, in that database (created if needed)."""
    engine = db_or_engine.engine if isinstance(db_or_engine, sx.Database) else db_or_engine
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.run_sync(lambda c: SItem.__table__.create(c, checkfirst=True))
        await conn.execute(SItem.__table__.delete())
        await conn.execute(SItem.__table__.insert().values(label=label))


@pytest.fixture
async def replicated(sx_database: sx.Database, replica_urls: list[sa.URL]) -> AsyncIterator[sx.Database]:
    """The test database as primary, with two stand-in replicas that hold other rows."""
    db = sx.Database(sx_database.url, replicas=replica_urls, name="replicated", default=False, sticky_for=60)
    await _only(sx_database, "primary")
    for i, replica in enumerate(db.replicas, 1):
        await _only(replica, f"replica {i}")
    yield db
    await db.close()


async def labels(qs: sx.QuerySet[SItem]) -> list[str]:
    return [i.label for i in await qs.order_by("label")]


async def test_reads_outside_a_session_go_round_robin(replicated: sx.Database) -> None:
    seen = [await labels(SItem.objects.using(replicated)) for _ in range(4)]
    assert seen == [["replica 1"], ["replica 2"], ["replica 1"], ["replica 2"]]


async def test_a_session_reads_a_replica_until_it_writes(replicated: sx.Database) -> None:
    async with replicated.session():
        assert await labels(SItem.objects.all()) == ["replica 1"]
        assert await labels(SItem.objects.all()) == ["replica 1"]    # one replica per session
        await SItem.objects.create(label="written")                 # to the primary
        assert await labels(SItem.objects.all()) == ["primary", "written"]
    async with replicated.session():                                  # this task just wrote:
        assert await labels(SItem.objects.all()) == ["primary", "written"]  # it reads its writes


async def test_the_task_sticks_to_the_primary_after_a_write(replicated: sx.Database) -> None:
    await SItem.objects.using(replicated).create(label="mine")
    assert await labels(SItem.objects.using(replicated)) == ["mine", "primary"]
    replicated.sticky_for = 0
    await SItem.objects.using(replicated).create(label="again")
    assert await labels(SItem.objects.using(replicated)) in (["replica 1"], ["replica 2"])


async def test_get_or_create_reads_the_primary(replicated: sx.Database) -> None:
    # The replicas lag: they do not have "primary". Reading them would insert a duplicate.
    item, created = await SItem.objects.using(replicated).get_or_create(label="primary")
    assert not created and item.label == "primary"
    async with replicated.session():
        item, created = await SItem.objects.get_or_create(label="primary")
        assert not created
        again, created = await SItem.objects.update_or_create(label="primary", defaults={})
        assert not created and again is item


async def test_replicas_as_engines(sx_database: sx.Database, replica_urls: list[sa.URL]) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(replica_urls[1])
    db = sx.Database(sx_database.url, replicas=[engine], default=False)
    try:
        await _only(engine, "from engine")
        assert await labels(SItem.objects.using(db)) == ["from engine"]
    finally:
        await db.close()


async def test_using_picks_a_database_by_name_object_or_session(
    sx_database: sx.Database, replica_urls: list[sa.URL]
) -> None:
    other = sx.Database(replica_urls[0], name="analytics", default=False)
    try:
        await _only(other, "analytics row")
        await _only(sx_database, "default row")
        assert await labels(SItem.objects.all()) == ["default row"]
        assert await labels(SItem.objects.using("analytics")) == ["analytics row"]
        assert await labels(SItem.objects.using(other)) == ["analytics row"]
        async with other.session() as s:
            assert await labels(SItem.objects.all()) == ["analytics row"]   # the current session
            assert await labels(SItem.objects.using(sx_database)) == ["default row"]
        async with sx_database.session() as mine:
            async with other.session() as theirs:
                await SItem.objects.using(mine).create(label="via session")
                assert await labels(SItem.objects.using(theirs)) == ["analytics row"]
            assert s is not theirs
        assert await committed_rows(sx_database, SItem, "label") == [("default row",), ("via session",)]
    finally:
        await other.close()


async def test_pool_options_pass_through(sx_database: sx.Database, replica_urls: list[sa.URL]) -> None:
    db = sx.Database(
        sx_database.url, replicas=[replica_urls[0]], default=False,
        pool_size=3, max_overflow=2, pool_timeout=7, pool_recycle=300, pool_pre_ping=True,
    )
    try:
        for engine in (db.engine, *db.replicas):
            pool = engine.pool
            assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle, pool._pre_ping) == (  # type: ignore[attr-defined]
                3, 2, 7, 300, True
            )
        for engine in (db.engine, *db.replicas):
            async with engine.connect() as conn:
                assert (await conn.execute(sa.select(sa.literal(1)))).scalar() == 1
    finally:
        await db.close()


@pytest.mark.parametrize("level", LEVELS)
async def test_isolation_levels_or_a_clear_refusal(sx_database: sx.Database, level: str) -> None:
    if level in sx_database.isolation_levels:
        async with sx_database.session(isolation_level=level):
            assert await SAuthor.objects.all() == []
    else:
        with pytest.raises(sx.NotSupportedError, match=f"(SQLite|PostgreSQL) does not support isolation level '{level}'"):
            async with sx_database.session(isolation_level=level):
                pass
    with pytest.raises(ValueError, match="unknown isolation level 'snapshot'"):
        async with sx_database.session(isolation_level="snapshot"):
            pass


@pytest.mark.requires("read_committed")
async def test_repeatable_read_keeps_its_snapshot(sx_database: sx.Database) -> None:
    author = await SAuthor.objects.create(name="iso")
    rating = sa.select(SAuthor.__table__.c.rating)
    for level, expected in (("REPEATABLE READ", 0), ("READ COMMITTED", 1)):
        await SAuthor.objects.filter(id=author.id).update(rating=0)
        async with sx_database.session(isolation_level=level) as s:
            assert await s.fetch_scalar(rating) == 0
            async with sx_database.session(join=False):
                await SAuthor.objects.filter(id=author.id).update(rating=1)
            assert await s.fetch_scalar(rating) == expected, level


async def test_read_only_session(sx_database: sx.Database) -> None:
    await SAuthor.objects.create(name="ro")
    with pytest.raises(sa.exc.DBAPIError):
        async with sx_database.session(read_only=True):
            assert len(await SAuthor.objects.all()) == 1
            await SAuthor.objects.create(name="refused")
    async with sx_database.session():                         # the connection is writable again
        await SAuthor.objects.create(name="fine")
    assert await committed_rows(sx_database, SAuthor, "name") == [("fine",), ("ro",)]
    async with sx_database.session():
        with pytest.raises(sx.SessionError, match="join=False"):
            async with sx_database.session(read_only=True):
                pass
