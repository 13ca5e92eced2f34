"""Capture the SQL a database receives (SQLAlchemy's ``before_cursor_execute`` event)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

import sqlmodelx as sx

_COUNTED = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "EXPLAIN", "ANALYZE"}


@contextmanager
def captured(db: sx.Database) -> Iterator[list[str]]:
    """Every query and DML statement sent to ``db`` inside the block.

    Transaction control (``BEGIN``, ``SAVEPOINT``...) and session settings are left out.
    """
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in _COUNTED:
            statements.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
