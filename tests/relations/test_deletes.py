"""on_delete through the database's own foreign keys, and PROTECT before anything is deleted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sqlmodelx as sx

from .conftest import Library
from .models import RAuthor, RBook, RCategory, RCity, RCountry, RItem, RPublisher, RRack, RWarehouse


async def _ids(db: sx.Database, model: type[sx.Model]) -> list[int]:
    table = model.__table__
    return [r[0] for r in await db.fetch_all(sa.select(table.c.id).order_by(table.c.id))]


async def test_foreign_keys_carry_the_rules() -> None:
    def ondelete(model: type[sx.Model], column: str) -> str | None:
        return next(iter(model.__table__.c[column].foreign_keys)).ondelete

    assert ondelete(RBook, "author_id") == "CASCADE"
    assert ondelete(RBook, "editor_id") == "SET NULL"
    assert ondelete(RItem, "rack_id") is None                   # PROTECT: the DB refuses too
    assert ondelete(RCity, "country_id") == "RESTRICT"
    assert next(iter(RCity.__table__.c.country_id.foreign_keys)).onupdate == "CASCADE"


async def test_cascade_and_set_null(sx_database: sx.Database, library: Library) -> None:
    async with sx_database.session():
        bob = await RAuthor.objects.get(name="Bob")
        a2 = await RBook.objects.select_related("editor").get(title="A2")
        b1 = await RBook.objects.get(title="B1")
        assert a2.editor is bob
        await bob.delete()
        assert a2.editor_id is None and a2.editor is None      # SET NULL, seen in memory
        assert "_sx_cols" not in b1.__dict__                    # CASCADE: b1 is gone
    assert await _ids(sx_database, RAuthor) == [library.authors[0], library.authors[2]]
    books = {b.title: b.editor_id for b in await RBook.objects.all()}
    assert books == {"A1": None, "A2": None, "C1": None}        # B1, B2 cascaded
    pub = await RPublisher.objects.get(name="North")
    await pub.delete()
    assert (await RAuthor.objects.get(name="Ann")).publisher_id is None


async def test_rollback_restores_what_set_null_changed_in_memory(sx_database: sx.Database, library: Library) -> None:
    with pytest.raises(RuntimeError):
        async with sx_database.session():
            a2 = await RBook.objects.get(title="A2")
            bob = await RAuthor.objects.get(name="Bob")
            await bob.delete()
            assert a2.editor_id is None
            raise RuntimeError("roll back")
    assert a2.editor_id == bob.id
    assert await RAuthor.objects.filter(name="Bob").exists()


async def test_protect_refuses_before_anything_is_deleted(sx_database: sx.Database) -> None:
    house = await RWarehouse.objects.create(name="W")
    empty = await RRack.objects.create(warehouse=house)
    full = await RRack.objects.create(warehouse=house)
    item = await RItem.objects.create(rack=full, label="box")
    with pytest.raises(sx.ProtectedError, match=r"RItem.rack \(on_delete=PROTECT\)") as info:
        await full.delete()
    assert info.value.protected_objects == [item.id]
    with pytest.raises(sx.ProtectedError):
        await house.delete()                                  # through the CASCADE to racks
    assert await _ids(sx_database, RRack) == [empty.id, full.id]
    assert await _ids(sx_database, RWarehouse) == [house.id]
    await empty.delete()                                      # nothing points at it
    async with sx_database.session() as s:                    # deleted together: allowed
        s.delete(item)
        s.delete(await RRack.objects.get(id=full.id))
    assert await _ids(sx_database, RRack) == [] and await _ids(sx_database, RItem) == []
    await house.delete()
    assert await _ids(sx_database, RWarehouse) == []


async def test_cascade_down_a_self_reference(sx_database: sx.Database) -> None:
    root = await RCategory.objects.create(name="root")
    child = await RCategory.objects.create(name="child", parent=root)
    await RCategory.objects.create(name="leaf", parent=child)
    other = await RCategory.objects.create(name="other")
    await root.delete()
    assert await _ids(sx_database, RCategory) == [other.id]


async def test_queryset_delete_follows_the_same_rules(sx_database: sx.Database, library: Library) -> None:
    house = await RWarehouse.objects.create(name="W")
    rack = await RRack.objects.create(warehouse=house)
    await RItem.objects.create(rack=rack)
    with pytest.raises(sx.ProtectedError):
        await RWarehouse.objects.filter(name="W").delete()    # the cascade reaches a PROTECT
    assert await _ids(sx_database, RRack) == [rack.id]
    assert await RAuthor.objects.filter(name="Bob").delete() == 1
    assert sorted(b.title for b in await RBook.objects.all()) == ["A1", "A2", "C1"]
    assert [b.editor_id for b in await RBook.objects.filter(title="A2")] == [None]


async def test_restrict_and_on_update(sx_database: sx.Database) -> None:
    fr = await RCountry.objects.create(code="FR", name="France")
    await RCity.objects.create(name="Paris", country=fr)
    with pytest.raises(sx.IntegrityError):
        await fr.delete()                                      # RESTRICT: the database refuses
    assert await RCountry.objects.filter(code="FR").exists()
    await RCountry.objects.filter(code="FR").update(code="FX")  # ON UPDATE CASCADE
    assert [c.country_id for c in await RCity.objects.all()] == ["FX"]
