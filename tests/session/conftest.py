"""Helpers for the session tests: a second connection to read what was committed, and
scratch "replica" databases holding different rows."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import sqlmodelx as sx
from sqlmodelx.testing import Backend, _create_scratch, _drop_scratch

_replicas: dict[str, list[sa.URL]] = {}
_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|SET TRANSACTION)\b", re.I)


@contextmanager
def sql_log(db: sx.Database) -> Iterator[list[str]]:
    """The statements ``db`` sends inside the block (one line each), transaction control left out."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _CONTROL.match(statement):
            sent.append(" ".join(statement.split()))

    engine = db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def committed_rows(db: sx.Database, model: type[sx.Model], *columns: str) -> list[tuple[Any, ...]]:
    """What another connection sees of ``model``'s table (committed rows only), ordered."""
    table = model.__table__
    cols = [table.c[c] for c in columns] or list(table.c)
    engine = create_async_engine(db.engine.url, poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(sa.select(*cols).order_by(*cols))]
    finally:
        await engine.dispose()


@pytest.fixture
async def replica_urls(sx_backend: Backend, sx_database: sx.Database) -> AsyncIterator[list[sa.URL]]:
    """Two scratch databases on the same server with the tables of the replica tests."""
    urls = _replicas.get(sx_backend.name)
    if urls is None:
        urls = []
        for i in (1, 2):
            if sx_backend.name == "sqlite":
                assert sx_backend.tmpdir is not None
                url = sa.make_url(f"sqlite+aiosqlite:///{Path(sx_backend.tmpdir) / f'replica{i}.db'}")
            else:
                assert sx_backend.admin_url is not None and sx_backend.scratch is not None
                name = f"{sx_backend.scratch}_r{i}"
                await _create_scratch(sx_backend.admin_url, sx_backend.name, name)
                url = sx_backend.admin_url.set(database=name)
            urls.append(url)
        _replicas[sx_backend.name] = urls
    yield urls


@pytest.fixture(scope="session", autouse=True)
def _drop_replicas() -> Any:
    yield
    from sqlmodelx.testing import _backends

    for name, urls in _replicas.items():
        backend = _backends.get(name)
        if backend is None or backend.admin_url is None:
            continue
        for url in urls:
            # best effort: the scratch databases of a failed run are dropped by name later
            with contextlib.suppress(Exception):
                asyncio.run(_drop_scratch(backend.admin_url, name, str(url.database)))
