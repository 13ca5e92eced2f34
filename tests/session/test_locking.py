"""Optimistic locking with ``sx.VersionField()``."""

from __future__ import annotations

import pytest

import sqlmodelx as sx

from .conftest import committed_rows, sql_log
from .models import SAccount


async def test_two_sessions_race_and_the_second_write_is_refused(sx_database: sx.Database) -> None:
    account = await SAccount.objects.create(owner="ann", balance=100)
    assert account.version == 1
    async with sx_database.session(join=False) as first:
        mine = await SAccount.objects.using(first).get(id=account.id)
    async with sx_database.session(join=False) as second:
        theirs = await SAccount.objects.using(second).get(id=account.id)
    mine.balance = 150
    await mine.save()                                       # version 1 -> 2
    assert mine.version == 2
    theirs.balance = 10
    with pytest.raises(sx.StaleObjectError, match=r"SAccount .* changed or deleted by another transaction"):
        await theirs.save()                                 # still says version 1
    assert (theirs.balance, theirs.version) == (100, 1)     # rolled back: what it had read
    assert await committed_rows(sx_database, SAccount, "balance", "version") == [(150, 2)]
    await theirs.refresh()
    theirs.balance = 10
    await theirs.save()
    assert await committed_rows(sx_database, SAccount, "balance", "version") == [(10, 3)]


async def test_a_stale_write_writes_nothing_of_its_flush(sx_database: sx.Database) -> None:
    account = await SAccount.objects.create(owner="bob")
    table = SAccount.__table__
    with pytest.raises(sx.StaleObjectError):
        async with sx_database.session() as s:
            mine = await SAccount.objects.get(id=account.id)
            s.add(SAccount(owner="new in the same flush"))
            await s.execute(table.update().values(version=table.c.version + 1))   # someone else
            mine.balance = 5
            await s.flush()
    assert await committed_rows(sx_database, SAccount, "owner", "balance") == [("bob", 0)]


async def test_version_is_checked_and_bumped_in_the_update(sx_database: sx.Database) -> None:
    account = await SAccount.objects.create(owner="cy")
    async with sx_database.session():
        mine = await SAccount.objects.get(id=account.id)
        mine.balance = 1
        with sql_log(sx_database) as log:
            await mine.save()
    assert len(log) == 1
    sql = log[0].lower()
    assert "set balance=" in sql and "version=" in sql.split("where")[0]
    assert "version =" in sql.split("where")[1]


async def test_stale_delete_is_refused(sx_database: sx.Database) -> None:
    account = await SAccount.objects.create(owner="dee")
    async with sx_database.session(join=False) as other:
        copy = await SAccount.objects.using(other).get(id=account.id)
    account.balance = 3
    await account.save()
    with pytest.raises(sx.StaleObjectError):
        await copy.delete()
    assert await committed_rows(sx_database, SAccount, "owner") == [("dee",)]


async def test_queryset_update_bumps_the_version(sx_database: sx.Database) -> None:
    account = await SAccount.objects.create(owner="eve")
    await SAccount.objects.filter(id=account.id).update(balance=9)
    account.balance = 1
    with pytest.raises(sx.StaleObjectError):
        await account.save()
    assert await committed_rows(sx_database, SAccount, "balance", "version") == [(9, 2)]
