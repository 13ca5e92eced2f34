"""A JSON key with a double quote works where the backend can express it, and is refused
with NotSupportedError (not silently unmatched) where it cannot (SQLite's JSON paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

import sqlmodelx as sx


class QJsonDoc(sx.Model):
    data: dict | None = None


@pytest.mark.requires("json_quoted_keys")
async def test_quoted_key_lookup(sx_database: sx.Database) -> None:
    await QJsonDoc.objects.create(data={'q"': {"z": 1}})
    await QJsonDoc.objects.create(data={"other": 1})
    assert await QJsonDoc.objects.filter(**{'data__q"__z__isnull': False}).count() == 1


async def test_sqlite_refuses_quoted_keys(tmp_path: Path) -> None:
    db = sx.Database(f"sqlite:///{tmp_path / 'q.db'}", default=False)
    try:
        await db.create_all()
        with pytest.raises(sx.NotSupportedError, match="sqlite: a JSON key containing a double quote"):
            await QJsonDoc.objects.using(db).filter(**{'data__q"__z__isnull': False}).count()
    finally:
        await db.close()
