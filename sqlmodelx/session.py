"""The session: SQLAlchemy's ``AsyncSession`` plus an identity map and a unit of work (L5).

``async with db.session() as s:`` opens one, binds it to the current task (and the tasks
it spawns) and commits on success, rolls back on an exception. ``sx.Session(existing)``
wraps an ``AsyncSession`` a project already has, so both share one transaction.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from . import _context
from .deletion import check_protected_objects, deleted_in_memory
from .exc import IntegrityError, SessionError, StaleObjectError
from .hydrate import changed_fields, mark_persistent, rows_loader
from .identity import IdentityMap
from .model import Model, validate_changes
from .prefetch import load_eager, prefetch_related_objects
from .relations import NO_EAGER

if TYPE_CHECKING:
    from .database import Database
    from .query import QuerySet

__all__ = ["Session"]


class Session:
    """A unit of work on one database. See ``docs/sessions.md``."""

    _sx_is_session = True

    def __init__(self, sa_session: AsyncSession, *, database: Database | None = None) -> None:
        if not isinstance(sa_session, AsyncSession):
            raise TypeError(
                f"Session() wraps a sqlalchemy AsyncSession, not {type(sa_session).__name__}; "
                f"use `async with db.session()` to open a new one"
            )
        self.sa_session = sa_session
        self.database = database
        self.identity_map = IdentityMap()
        self.closed = False
        self._new: dict[int, Model] = {}
        self._dirty: dict[int, Model] = {}
        self._deleted: dict[int, Model] = {}
        self._lock = asyncio.Lock()
        bind = sa_session.bind
        self.dialect: sa.Dialect = bind.dialect if bind is not None else database.dialect  # type: ignore[union-attr]

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<sx.Session {state} on {self.dialect.name}>"

    # -- lifecycle -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise SessionError(
                "this session is closed; open a new one with `async with db.session() as s:`"
            )

    async def _connection(self) -> AsyncConnection:
        self._check_open()
        return await self.sa_session.connection()

    async def commit(self) -> None:
        """Flush pending changes and commit the transaction."""
        async with self._lock:
            await self._flush_locked()
            await self.sa_session.commit()

    async def rollback(self) -> None:
        """Roll back; objects changed in this transaction lose their unflushed state."""
        async with self._lock:
            await self.sa_session.rollback()
            self._after_rollback()

    def _after_rollback(self) -> None:
        for obj in self._new.values():
            obj.__dict__.pop("_sx_session", None)
        self._new.clear()
        self._dirty.clear()
        self._deleted.clear()
        for obj in self.identity_map.objects():
            obj.__dict__.pop("_sx_session", None)
        self.identity_map.clear()

    async def close(self) -> None:
        """Release the connection; objects become detached (their values stay readable)."""
        if self.closed:
            return
        for obj in self.identity_map.objects():
            obj.__dict__.pop("_sx_session", None)
        for obj in self._new.values():
            obj.__dict__.pop("_sx_session", None)
        self.identity_map.clear()
        self._new.clear()
        self._dirty.clear()
        self._deleted.clear()
        self.closed = True
        await self.sa_session.close()

    # -- unit of work ----------------------------------------------------------------------

    def add(self, obj: Model) -> None:
        """Put a new object in the session; the next flush INSERTs it."""
        self._check_open()
        if not isinstance(obj, Model):
            raise TypeError(f"Session.add() takes a model instance, not {type(obj).__name__}")
        d = obj.__dict__
        owner = d.get("_sx_session")
        if owner is self:
            return
        if owner is not None and not owner.closed:
            raise SessionError(f"{obj!r} belongs to another open session")
        d["_sx_session"] = self
        if "_sx_cols" in d:
            plan = type(obj).__sx_plan__
            self.identity_map.add(plan, plan.pk_of(d), obj)
            if changed_fields(obj):
                self._dirty[id(obj)] = obj
        else:
            self._new[id(obj)] = obj

    def add_all(self, objects: Iterable[Model]) -> None:
        for obj in objects:
            self.add(obj)

    def delete(self, obj: Model) -> None:
        """Mark an object for deletion; the next flush DELETEs its row."""
        self._check_open()
        if not isinstance(obj, Model):
            raise TypeError(f"Session.delete() takes a model instance, not {type(obj).__name__}")
        if id(obj) in self._new:
            del self._new[id(obj)]
            obj.__dict__.pop("_sx_session", None)
            return
        if "_sx_cols" not in obj.__dict__:
            raise SessionError(f"{obj!r} was never saved; there is no row to delete")
        obj.__dict__["_sx_session"] = self
        self._deleted[id(obj)] = obj

    def _note_modified(self, obj: Model) -> None:
        if "_sx_cols" in obj.__dict__:
            self._dirty[id(obj)] = obj

    async def flush(self) -> None:
        """Send pending INSERTs, UPDATEs and DELETEs, in foreign-key order."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        self._check_open()
        if not (self._new or self._dirty or self._deleted):
            return
        conn = await self._connection()
        try:
            if self._new:
                new = list(self._new.values())
                await self._insert(conn, new)
                self._new.clear()
            if self._dirty:
                dirty = list(self._dirty.values())
                self._dirty.clear()
                for obj in dirty:
                    await self._update(conn, obj)
            if self._deleted:
                deleted = list(self._deleted.values())
                self._deleted.clear()
                await self._delete(conn, deleted)
        except sa_exc.IntegrityError as exc:
            raise IntegrityError(str(exc.orig)) from exc

    async def _insert(self, conn: AsyncConnection, objects: list[Model]) -> None:
        by_table: dict[sa.Table, list[Model]] = {}
        for obj in objects:
            by_table.setdefault(type(obj).__table__, []).append(obj)
        for table in _in_dependency_order(by_table):
            batch = by_table[table]
            for obj in batch:
                _sync_foreign_keys(obj)
            await _insert_batch(conn, type(batch[0]), batch, self)

    async def _update(self, conn: AsyncConnection, obj: Model) -> None:
        _sync_foreign_keys(obj)
        changed = changed_fields(obj)
        if not changed:
            return
        validate_changes(obj, changed)
        plan = type(obj).__sx_plan__
        d = obj.__dict__
        table = plan.table
        values = {plan.fields[n].column.key: d[n] for n in changed}
        where = [plan.fields[n].column == d[n] for n in plan.pk_names]
        version = plan.version_field
        if version is not None:
            old_version = dict(zip(d["_sx_cols"], d["_sx_vals"], strict=False)).get(version)
            where.append(plan.fields[version].column == old_version)
            values[version] = (old_version or 0) + 1
        result = await conn.execute(sa.update(table).where(*where).values(values))
        if version is not None and result.rowcount != 1:
            raise StaleObjectError(
                f"{type(obj).__name__} {plan.pk_of(d)!r} was changed by another transaction "
                f"(expected version {old_version}); reload it and apply your change again"
            )
        if version is not None:
            d[version] = values[version]
        mark_persistent(obj)

    async def _delete(self, conn: AsyncConnection, objects: list[Model]) -> None:
        by_table: dict[sa.Table, list[Model]] = {}
        for obj in objects:
            by_table.setdefault(type(obj).__table__, []).append(obj)
        # relations (issue 6): on_delete=PROTECT refuses before anything is deleted
        await conn.run_sync(lambda sync: check_protected_objects(lambda s: sync.execute(s).all(), objects))
        for table in reversed(_in_dependency_order(by_table)):
            batch = by_table[table]
            plan = type(batch[0]).__sx_plan__
            if len(plan.pk_names) == 1:
                column = plan.fields[plan.pk_names[0]].column
                await conn.execute(sa.delete(table).where(column.in_([o.pk for o in batch])))
            else:
                for obj in batch:
                    where = [plan.fields[n].column == obj.__dict__[n] for n in plan.pk_names]
                    await conn.execute(sa.delete(table).where(*where))
            for obj in batch:
                self.identity_map.discard(plan, obj.pk, obj)
                d = obj.__dict__
                d.pop("_sx_cols", None)
                d.pop("_sx_vals", None)
                d.pop("_sx_session", None)
            # relations (issue 6): what ON DELETE SET NULL / CASCADE did, on loaded objects
            deleted_in_memory(self.identity_map, type(batch[0]), batch)

    # -- transactions ----------------------------------------------------------------------

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[Session]:
        """A SAVEPOINT: the block's changes are undone alone if it raises."""
        await self.flush()
        nested = await self.sa_session.begin_nested()
        try:
            yield self
            await self.flush()
        except BaseException:
            await nested.rollback()
            raise
        else:
            await nested.commit()

    # -- runner protocol (used by QuerySet and Model) -----------------------------------

    async def fetch_objects(self, qs: QuerySet[Any]) -> list[Any]:
        async with self._lock:
            await self._flush_locked()
            conn = await self._connection()
            result = await conn.execute(qs.statement)
            rows = result.all()
        plan = qs._plan
        loader = rows_loader(plan, plan.field_names)
        objects = loader(rows, self, self.identity_map.for_plan(plan))
        if qs._eager is not NO_EAGER:  # relations (issue 6): select_related, prefetch_related
            await load_eager(self, qs, rows, objects)
        return objects

    async def fetch_scalar(self, statement: Any) -> Any:
        async with self._lock:
            await self._flush_locked()
            conn = await self._connection()
            return (await conn.execute(statement)).scalar()

    async def fetch_all(self, statement: Any) -> list[Any]:
        async with self._lock:
            await self._flush_locked()
            conn = await self._connection()
            return list((await conn.execute(statement)).all())

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run any Core statement in this session's transaction (after a flush)."""
        async with self._lock:
            await self._flush_locked()
            conn = await self._connection()
            return await conn.execute(statement, parameters)

    async def insert_objects(self, objects: list[Model]) -> None:
        for obj in objects:
            self.add(obj)
        await self.flush()

    async def save_object(self, obj: Model) -> None:
        self.add(obj)
        if "_sx_cols" in obj.__dict__:
            self._dirty[id(obj)] = obj
        await self.flush()

    async def delete_object(self, obj: Model) -> None:
        self.delete(obj)
        await self.flush()

    async def refresh(self, obj: Model) -> None:
        await self.refresh_object(obj)

    async def refresh_object(self, obj: Model) -> None:
        plan = type(obj).__sx_plan__
        d = obj.__dict__
        where = [plan.fields[n].column == d.get(n) for n in plan.pk_names]
        async with self._lock:
            conn = await self._connection()
            row = (await conn.execute(sa.select(*plan.table.columns).where(*where))).first()
        if row is None:
            raise type(obj).DoesNotExist(f"{obj!r} no longer exists in the database")
        names = plan.field_names
        for name, value in zip(names, row, strict=True):
            d[name] = value
        mark_persistent(obj, names)
        self._dirty.pop(id(obj), None)

    async def load_relations(self, objects: list[Model], relations: Iterable[str]) -> None:
        """``await obj.load("author", "tags")``: one query per relation (prefetch.py)."""
        await prefetch_related_objects(self, objects, tuple(relations), force=True)

    async def get(self, model: type[Model], pk: Any) -> Any:
        """The object with this primary key: from the identity map, else one SELECT."""
        plan = model.__sx_plan__
        found = self.identity_map.get(plan, pk)
        if found is not None:
            return found
        key = plan.pk_names[0]
        return await model.objects.using(self).get(**{key: pk})


def _sync_foreign_keys(obj: Model) -> None:
    """``book.author = a`` before ``a`` had an id: copy the id now that it has one."""
    d = obj.__dict__
    for rel in type(obj).__sx_plan__.relations.values():
        target = d.get(rel.name)
        if target is not None:
            key = target.__dict__.get(rel.to_field or type(target).__sx_plan__.pk_names[0])
            if d.get(rel.column_name) != key:
                d[rel.column_name] = key


def _in_dependency_order(tables: dict[sa.Table, Any]) -> list[sa.Table]:
    """Parents before children (self-references need an explicit flush order)."""
    ordered = sa.sql.util.sort_tables(tables)  # type: ignore[attr-defined]
    return [t for t in ordered if t in tables]


async def _insert_batch(conn: AsyncConnection, model: type[Model], batch: list[Model], session: Session) -> None:
    plan = model.__sx_plan__
    table = plan.table
    auto = [n for n, s in plan.fields.items() if s.auto]
    dialect = conn.dialect
    # Rows that leave an auto column (autoincrement id, server default) to the database
    # need it back: RETURNING where the dialect has it, else one INSERT per row.
    missing = [n for n in auto if any(n not in o.__dict__ for o in batch)]
    rows = [{plan.fields[n].column.key: o.__dict__[n] for n in plan.fields if n in o.__dict__} for o in batch]
    keysets = {tuple(r) for r in rows}
    if not missing:
        if len(keysets) == 1:
            await conn.execute(sa.insert(table), rows)
        else:
            for row in rows:
                await conn.execute(sa.insert(table).values(row))
    elif dialect.insert_executemany_returning_sort_by_parameter_order and len(keysets) == 1:
        stmt = sa.insert(table).returning(
            *(plan.fields[n].column for n in missing), sort_by_parameter_order=True
        )
        result = await conn.execute(stmt, rows)
        for obj, returned in zip(batch, result.all(), strict=True):
            for name, value in zip(missing, returned, strict=True):
                obj.__dict__[name] = value
    else:
        for obj, row in zip(batch, rows, strict=True):
            if dialect.insert_returning:
                stmt = sa.insert(table).values(row).returning(*(plan.fields[n].column for n in missing))
                returned = (await conn.execute(stmt)).one()
                for name, value in zip(missing, returned, strict=True):
                    obj.__dict__[name] = value
            else:
                result = await conn.execute(sa.insert(table).values(row))
                for name, value in zip(plan.pk_names, result.inserted_primary_key, strict=True):
                    obj.__dict__[name] = value
    imap = session.identity_map
    table_map = imap.for_plan(plan)
    for obj in batch:
        mark_persistent(obj)
        d = obj.__dict__
        d["_sx_session"] = session
        table_map[plan.pk_of(d)] = weakref.ref(obj)
    imap.note_inserts(len(batch))
