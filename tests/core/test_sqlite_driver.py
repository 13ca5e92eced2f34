"""The one-hop SQLite adapter returns exactly what SQLAlchemy's stock adapter returns."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx._sqlite_driver import OneHopConnection

from .models_catalog import CoreAuthor, CoreBook


async def _exercise(db: sx.Database) -> dict[str, object]:
    await db.create_all()
    out: dict[str, object] = {}
    async with db.session() as s:
        authors = [CoreAuthor(name=f"a{i}", email=f"a{i}@x") for i in range(5)]
        s.add_all(authors)
        await s.flush()
        out["ids"] = [a.id for a in authors]
        s.add_all([CoreBook(title=f"t{i}", author=authors[i % 5]) for i in range(12)])
        await s.flush()
        again = await CoreAuthor.objects.get(id=authors[0].id)
        out["identity"] = again is authors[0]
        result = await s.execute(sa.update(CoreBook.__table__).values(pages=7).where(CoreBook.pages == 0))
        out["rowcount"] = result.rowcount
        rows = await s.fetch_all(sa.select(CoreBook.title, CoreBook.pages).order_by(CoreBook.title))
        out["rows"] = [tuple(r) for r in rows]
        out["count"] = await CoreBook.objects.filter(pages=7).count()
        async with s.begin_nested():
            await CoreAuthor.objects.create(name="nested")
        out["empty"] = await s.fetch_all(sa.select(CoreBook.title).where(CoreBook.pages > 100))
    with pytest.raises(sx.IntegrityError) as info:
        async with db.session() as s:
            s.add(CoreAuthor(name="dup", email="a1@x"))
    out["error"] = type(info.value.__cause__).__name__
    async with db.engine.connect() as conn:
        result = await conn.execute(sa.insert(CoreAuthor.__table__).values(name="raw"))
        out["lastrowid"] = result.inserted_primary_key[0]
        await conn.rollback()
    await db.close()
    return out


async def test_lean_and_stock_adapters_agree(tmp_path: Path) -> None:
    lean = sx.Database(f"sqlite:///{tmp_path / 'lean.db'}", default=False)
    stock = sx.Database(f"sqlite:///{tmp_path / 'stock.db'}", default=False, lean_sqlite=False)
    async with lean.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneHopConnection)
    async with stock.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert not isinstance(raw.dbapi_connection, OneHopConnection)
    assert await _run_bound(lean) == await _run_bound(stock)


async def _run_bound(db: sx.Database) -> dict[str, object]:
    from sqlmodelx import _context

    saved = list(_context._default)
    db.make_default()
    try:
        return await _exercise(db)
    finally:
        _context._default[:] = saved
