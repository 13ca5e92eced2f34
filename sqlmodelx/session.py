"""The session: SQLAlchemy's ``AsyncSession`` plus an identity map and a unit of work (L5).

``async with db.session() as s:`` opens one, binds it to the current task (and the tasks
it spawns) and commits on success, rolls back on an exception. ``sx.Session(existing)``
wraps an ``AsyncSession`` a project already has: both then share one transaction, and
the wrapper follows whatever the project's code does to it (commit, rollback, savepoints)
through SQLAlchemy's session events. See ``docs/sessions.md``.

How the pieces fit:

- Objects are plain instances (``hydrate.py``); the identity map (``identity.py``) holds
  them weakly. Pending work is three dicts (new, dirty, deleted) that hold their objects
  strongly until the next flush.
- A flush is synchronous code run on the session's connection in SQLAlchemy's greenlet
  (``AsyncSession.run_sync``), so the same code also runs from SQLAlchemy's own events:
  when plain SQLAlchemy code commits, flushes or executes through the shared
  ``AsyncSession``, sqlmodelx's pending changes are written first.
- Every write is journalled per transaction scope (the transaction, or a savepoint):
  the database state each object had before the scope first wrote it. When the scope
  ends without a commit, the journal puts every object back: changed objects revert,
  inserted objects lose their database-assigned values and their session, deleted
  objects come back. A released savepoint hands its journal to the enclosing scope.
"""

from __future__ import annotations

import asyncio
import operator
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.orm import SessionTransaction
from sqlalchemy.sql.compiler import InsertmanyvaluesSentinelOpts

from . import _context, _direct
from ._insert import insert_returning_keys
from .bulk import OnConflict, bulk_update_statement, upsert_statement
from .deletion import check_protected_objects, deleted_in_memory
from .exc import (
    ConfigurationError,
    IntegrityError,
    SessionError,
    StaleObjectError,
    ValidationError,
)
from .hydrate import (
    changed_fields,
    forget_database_state,
    mark_persistent,
    restore_snapshot,
    rows_loader,
    snapshot_of,
)
from .identity import IdentityMap
from .model import Model, ModelPlan, validate_changes
from .prefetch import check_streaming, load_eager, prefetch_related_objects

if TYPE_CHECKING:
    from .database import Database
    from .query import QuerySet

__all__ = ["Session"]

#: Where the wrapper of an AsyncSession is kept (``sync_session.info``).
_INFO_KEY = "sqlmodelx.session"
_HOOKED_KEY = "sqlmodelx.hooks"
#: Values per ``IN (...)`` of a batched DELETE (well under every backend's bind limit).
_DELETE_CHUNK = 1000


class _Journal:
    """What one transaction scope wrote, so a rollback can undo it in Python."""

    __slots__ = ("updated", "inserted", "deleted")

    def __init__(self) -> None:
        #: id(obj) -> (obj, cols, vals): the database state before the scope's first write.
        self.updated: dict[int, tuple[Model, tuple[str, ...], tuple[Any, ...]]] = {}
        #: id(obj) -> (obj, names the database assigned on INSERT).
        self.inserted: dict[int, tuple[Model, tuple[str, ...]]] = {}
        #: id(obj) -> (obj, cols, vals): the state the DELETE removed.
        self.deleted: dict[int, tuple[Model, tuple[str, ...], tuple[Any, ...]]] = {}

    def note_before(self, obj: Model, kind: str) -> None:
        """Record ``obj``'s database state before this scope first changes it, so a rollback
        can restore it: ``kind`` "updated" (an UPDATE, ON DELETE SET NULL) or "deleted" (a
        DELETE, CASCADE). Objects the scope inserted need no record."""
        d = obj.__dict__
        if id(obj) not in self.inserted:
            records = self.deleted if kind == "deleted" else self.updated
            records.setdefault(id(obj), (obj, d["_sx_cols"], d["_sx_vals"]))

    def merge_into(self, parent: _Journal) -> None:
        """A released savepoint: its writes now belong to the enclosing scope."""
        parent.inserted.update(self.inserted)
        for key, before in self.updated.items():
            if key not in parent.updated and key not in parent.inserted:
                parent.updated[key] = before
        for key, removed in self.deleted.items():
            if key not in parent.inserted:
                parent.deleted[key] = removed


class Session:
    """A unit of work on one database. See ``docs/sessions.md``.

    ``Session(async_session)`` wraps an ``AsyncSession`` you already have (wrapping the
    same one twice gives the same ``Session``). ``async with Session(async_session):``
    also makes it the current session of the block; the block flushes on success and
    leaves commit, rollback and close to the code that owns the ``AsyncSession``.
    """

    _sx_is_session = True

    def __new__(cls, sa_session: AsyncSession, **kwargs: Any) -> Session:
        if isinstance(sa_session, AsyncSession):
            existing = sa_session.sync_session.info.get(_INFO_KEY)
            if isinstance(existing, cls) and not existing.closed:
                return existing
        return super().__new__(cls)

    def __init__(
        self,
        sa_session: AsyncSession,
        *,
        database: Database | None = None,
        _owns: bool = False,
        _primary_only: bool = False,
    ) -> None:
        if getattr(self, "sa_session", None) is sa_session:
            return  # the existing wrapper of this AsyncSession (see __new__)
        if not isinstance(sa_session, AsyncSession):
            raise TypeError(
                f"Session() wraps a sqlalchemy AsyncSession, not {type(sa_session).__name__}; "
                f"use `async with db.session()` to open a new one"
            )
        bind = sa_session.bind
        if bind is None and database is None:
            raise ConfigurationError(
                "Session() needs an AsyncSession bound to an engine or connection "
                "(AsyncSession(engine)), or database=..."
            )
        self.sa_session = sa_session
        self.database = database
        self.dialect: sa.Dialect = bind.dialect if bind is not None else database.dialect  # type: ignore[union-attr]
        self.identity_map = IdentityMap()
        self.closed = False
        self._owns = _owns
        self._new: dict[int, Model] = {}
        self._dirty: dict[int, Model] = {}
        self._deleted: dict[int, Model] = {}
        self._journals: dict[SessionTransaction, _Journal] = {}
        self._committing: SessionTransaction | None = None
        self._failed: str | None = None
        self._failed_savepoint: tuple[SessionTransaction, str] | None = None
        self._savepoints: list[SessionTransaction] = []
        self._flushing = False
        self._lock = asyncio.Lock()
        self._conn: AsyncConnection | None = None
        self._replica_conn: AsyncConnection | None = None
        #: Reads go to the primary: set on the first use of the primary, kept for the session.
        self._on_primary = _primary_only or database is None or not database.replicas
        #: Per task: the sessions that were current before ``async with session:`` blocks.
        self._bound: dict[Any, list[Any]] = {}
        #: (isolation level, read only) this session was opened with by ``db.session()``.
        self._options: tuple[str | None, bool] = (None, False)
        sync = sa_session.sync_session
        sync.info[_INFO_KEY] = self
        if not isinstance(sync, _SyncSession) and not sync.info.get(_HOOKED_KEY):
            _install_hooks(sync)
            sync.info[_HOOKED_KEY] = True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        where = f"database {self.database.name!r}" if self.database is not None else self.dialect.name
        return f"<sx.Session {state} on {where}>"

    async def __aenter__(self) -> Session:
        self._check_open()
        self._bound.setdefault(asyncio.current_task(), []).append(_context.current_session.get())
        _context.current_session.set(self)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        task = asyncio.current_task()
        outer = self._bound.get(task)
        _context.current_session.set(outer.pop() if outer else None)
        if not outer:
            self._bound.pop(task, None)
        if exc_type is None and not self.closed:
            await self.flush()

    # -- state -----------------------------------------------------------------------------

    @property
    def new(self) -> list[Model]:
        """Objects added and not yet inserted."""
        return list(self._new.values())

    @property
    def dirty(self) -> list[Model]:
        """Persistent objects with changes the next flush will write."""
        return [o for o in self._dirty.values() if changed_fields(o)]

    @property
    def deleted(self) -> list[Model]:
        """Objects marked for deletion and not yet deleted."""
        return list(self._deleted.values())

    def in_transaction(self) -> bool:
        return self.sa_session.in_transaction()

    def _check_open(self) -> None:
        if self.closed:
            raise SessionError(
                "this session is closed; open a new one with `async with db.session() as s:`"
            )

    def _check_usable(self) -> None:
        self._check_open()
        if self._failed is not None:
            raise SessionError(
                f"this session's transaction was rolled back because a flush failed "
                f"({self._failed}); call `await session.rollback()` before using it again"
            )
        if self._failed_savepoint is not None:
            raise SessionError(
                f"the savepoint was rolled back because a flush inside it failed "
                f"({self._failed_savepoint[1]}); leave the `async with session.begin_nested()` "
                f"block before using the session again"
            )

    # -- lifecycle -------------------------------------------------------------------------

    async def commit(self) -> None:
        """Flush pending changes and commit the transaction."""
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            await self.sa_session.commit()

    async def rollback(self) -> None:
        """Roll back the transaction; every object returns to the database's state.

        Objects changed in the transaction revert (unflushed changes included), objects
        inserted lose their database-assigned values and leave the session, objects
        deleted come back, and pending (unflushed) additions are dropped.
        """
        async with self._lock:
            self._check_open()
            await self.sa_session.rollback()
            self._discard_pending()
            self._failed = None

    async def close(self) -> None:
        """Release the connections; objects become detached (their values stay readable).

        A session opened by ``db.session()`` closes its AsyncSession (an uncommitted
        transaction is rolled back); a wrapped AsyncSession is left to its owner.
        """
        if self.closed:
            return
        async with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                await self._release_replica()
                if self._owns:
                    await self.sa_session.close()
            finally:
                self._detach_all()

    async def _abort(self, error: BaseException) -> None:
        """Roll back after ``error``; if even that fails, drop the connection (never leak it)."""
        try:
            await self.sa_session.rollback()
        except Exception as exc:  # the connection is unusable: make sure it is released
            error.add_note(f"sqlmodelx: the rollback after this error failed too: {exc!r}")
            await self.sa_session.invalidate()
        finally:
            self._discard_pending()
            self._failed = None

    def _detach_all(self) -> None:
        for obj in (*self.identity_map.objects(), *self._new.values(), *self._deleted.values()):
            if obj.__dict__.get("_sx_session") is self:
                del obj.__dict__["_sx_session"]
        self.identity_map.clear()
        self._new.clear()
        self._dirty.clear()
        self._deleted.clear()
        self._journals.clear()
        info = self.sa_session.sync_session.info
        if info.get(_INFO_KEY) is self:
            del info[_INFO_KEY]

    # -- unit of work ----------------------------------------------------------------------

    def add(self, obj: Model) -> None:
        """Put an object in the session: a new one is INSERTed by the next flush, a
        detached one is attached (its changes are UPDATEd)."""
        self._check_usable()
        if not isinstance(obj, Model):
            raise TypeError(
                f"Session.add() takes a model instance (an sx.Model subclass), "
                f"not {type(obj).__name__}: {obj!r:.80}"
            )
        d = obj.__dict__
        owner = d.get("_sx_session")
        if owner is self:
            self._deleted.pop(id(obj), None)
            return
        self._check_not_elsewhere(obj, owner)
        if "_sx_cols" in d:
            self._attach(obj)
            self._dirty[id(obj)] = obj
        else:
            d["_sx_session"] = self
            self._new[id(obj)] = obj

    def add_all(self, objects: Iterable[Model]) -> None:
        for obj in objects:
            self.add(obj)

    def delete(self, obj: Model) -> None:
        """Mark an object for deletion; the next flush DELETEs its row."""
        self._check_usable()
        if not isinstance(obj, Model):
            raise TypeError(f"Session.delete() takes a model instance, not {type(obj).__name__}")
        d = obj.__dict__
        if self._new.pop(id(obj), None) is not None:
            d.pop("_sx_session", None)
            return
        if "_sx_cols" not in d:
            raise SessionError(f"{obj!r} was never saved; there is no row to delete")
        owner = d.get("_sx_session")
        if owner is not self:
            self._check_not_elsewhere(obj, owner)
            self._attach(obj)
        self._dirty.pop(id(obj), None)
        self._deleted[id(obj)] = obj

    def expunge(self, obj: Model) -> None:
        """Take an object out of the session; its pending changes are not written."""
        d = obj.__dict__
        if d.get("_sx_session") is not self:
            return
        for pending in (self._new, self._dirty, self._deleted):
            pending.pop(id(obj), None)
        if "_sx_cols" in d:
            plan = type(obj).__sx_plan__
            self.identity_map.discard(plan, plan.pk_of(snapshot_of(obj)), obj)
        del d["_sx_session"]

    def _check_not_elsewhere(self, obj: Model, owner: Any) -> None:
        if owner is not None and not owner.closed:
            raise SessionError(
                f"{obj!r} belongs to another open session ({owner!r}); "
                f"call expunge() there first, or use that session"
            )

    def _attach(self, obj: Model) -> None:
        plan = type(obj).__sx_plan__
        key = plan.pk_of(snapshot_of(obj))
        known = self.identity_map.get(plan, key)
        if known is not None and known is not obj:
            raise SessionError(
                f"this session already holds another {type(obj).__name__} object for primary "
                f"key {key!r}; use that object (one row is one object in a session)"
            )
        obj.__dict__["_sx_session"] = self
        self.identity_map.add(plan, key, obj)

    def _note_modified(self, obj: Model) -> None:
        if "_sx_cols" in obj.__dict__:
            self._dirty[id(obj)] = obj

    async def flush(self) -> None:
        """Send pending INSERTs, UPDATEs and DELETEs, in foreign-key order.

        Every pending object is validated first: a ``ValidationError`` writes nothing. A
        database error (``IntegrityError``, ``StaleObjectError``, ...) rolls back the
        innermost scope (the savepoint, else the transaction), as SQLAlchemy does: the
        session then refuses work until that scope is left (``rollback()``).
        """
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()

    async def _flush_unlocked(self) -> None:
        if self._new or self._dirty or self._deleted:
            await self.sa_session.run_sync(self._flush_sync, True)

    def _flush_sync(self, sync: SyncSession, rollback_on_error: bool = False) -> None:
        """The flush itself: synchronous, on the session's connection (SQLAlchemy's greenlet)."""
        if self._flushing or self.closed or not (self._new or self._dirty or self._deleted):
            return
        self._flushing = True
        try:
            new, dirty, deleted = self._prepare_flush()
            if not (new or dirty or deleted):
                return
            # The session's connection when it has one (the same one sync.connection() gives).
            conn = self._conn.sync_connection if self._conn is not None else None
            if conn is None:
                conn = sync.connection()
            self._on_primary = True
            scope, journal = self._scope_journal(sync)
            try:
                if new:
                    self._write_inserts(conn, new, journal)
                if dirty:
                    self._write_updates(conn, dirty, journal)
                if deleted:
                    self._write_deletes(conn, deleted, journal)
            except Exception as exc:
                if rollback_on_error:
                    self._fail_scope(sync, scope, exc)
                if isinstance(exc, sa_exc.IntegrityError):
                    raise IntegrityError(f"{exc.orig}") from exc
                raise
            if self.database is not None:
                self.database._note_write()
        finally:
            self._flushing = False

    def _scope_journal(self, sync: SyncSession) -> tuple[SessionTransaction, _Journal]:
        """The innermost transaction scope (savepoint or root) and the journal of its writes."""
        scope = sync.get_nested_transaction() or sync.get_transaction()
        assert scope is not None
        journal = self._journals.get(scope)
        if journal is None:
            journal = self._journals[scope] = _Journal()
        return scope, journal

    def _prepare_flush(self) -> tuple[list[Model], list[Model], list[Model]]:
        """Cascade related new objects into the session and validate everything (no SQL)."""
        new = list(self._new.values())
        dirty = list(self._dirty.values())
        walk = [*new, *dirty]
        for obj in walk:  # grows while it runs: a new parent's own new parent is added too
            if not type(obj).__sx_plan__.relations:
                continue
            for target in _unsaved_related(obj):
                if id(target) not in self._new:
                    self.add(target)
                    new.append(target)
                    walk.append(target)
        mysql = self.dialect.name in ("mysql", "mariadb")
        for obj in new:
            plan = type(obj).__sx_plan__
            if plan.relations:
                d = obj.__dict__
                waiting = _keys_from_unsaved(obj)
                validate_changes(obj, [n for n in plan.fields if n in d and n not in waiting])
            else:
                plan.validate_fields(obj.__dict__)
            if mysql:
                _reject_zero_autoincrement(obj)
        for obj in dirty:
            changed = changed_fields(obj)
            if changed:
                if type(obj).__sx_plan__.relations:
                    waiting = _keys_from_unsaved(obj)
                    changed = [n for n in changed if n not in waiting]
                validate_changes(obj, changed)
        return new, dirty, list(self._deleted.values())

    def _fail_scope(self, sync: SyncSession, scope: SessionTransaction, error: Exception) -> None:
        """A flush failed half-way: roll back the innermost scope so nothing of it stays."""
        summary = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        try:
            if scope.nested:
                if scope.is_active:
                    scope.rollback()
            else:
                sync.rollback()
        except Exception as exc:
            error.add_note(f"sqlmodelx: rolling back after this error failed too: {exc!r}")
        if scope.nested:
            if scope in self._savepoints:
                self._failed_savepoint = (scope, summary)
        else:
            self._failed = summary

    # -- the statements of a flush ------------------------------------------------------

    def _write_inserts(self, conn: sa.Connection, objects: list[Model], journal: _Journal) -> None:
        by_table: dict[sa.Table, list[Model]] = {}
        for obj in objects:
            by_table.setdefault(type(obj).__table__, []).append(obj)
        imap = self.identity_map
        for table in _in_dependency_order(by_table):
            batch = by_table[table]
            plan = type(batch[0]).__sx_plan__
            table_map = imap.for_plan(plan)
            fields = plan.field_names
            related = bool(plan.relations)
            # The fields an object sets, found once per layout of its __dict__ (keys in order).
            set_fields: dict[tuple[str, ...], tuple[str, ...]] = {}
            for wave in _self_reference_waves(plan, batch):
                groups: dict[tuple[str, ...], list[Model]] = {}
                for obj in wave:
                    if related:
                        _sync_foreign_keys(obj)
                    d = obj.__dict__
                    layout = tuple(d)
                    names = set_fields.get(layout)
                    if names is None:
                        names = set_fields[layout] = tuple(filter(d.__contains__, fields))
                    groups.setdefault(names, []).append(obj)
                for names, group in groups.items():
                    assigned = _insert_group(conn, plan, names, group)
                    self._inserted(plan, table_map, group, names, assigned, journal)
                    imap.note_inserts(len(group))

    def _inserted(
        self,
        plan: ModelPlan,
        table_map: dict[Any, Any],
        group: list[Model],
        names: tuple[str, ...],
        assigned: tuple[str, ...],
        journal: _Journal,
    ) -> None:
        """Objects just INSERTed: persistent, in the identity map, journalled, no longer new.

        Their database state is ``names`` plus the ``assigned`` fields, read with one
        ``itemgetter`` per group (``mark_persistent`` for an object lacking an assigned field).
        """
        persisted = tuple(n for n in plan.fields if n in names or n in assigned)
        values_of = operator.itemgetter(*persisted)
        single = len(persisted) == 1
        key_name = plan.pk_names[0] if len(plan.pk_names) == 1 else None
        inserted, pending, ref = journal.inserted, self._new, weakref.ref
        for obj in group:
            d = obj.__dict__
            try:
                values = values_of(d)
            except KeyError:
                mark_persistent(obj)
            else:
                d["_sx_cols"] = persisted
                d["_sx_vals"] = (values,) if single else values
            d["_sx_session"] = self
            table_map[d.get(key_name) if key_name is not None else plan.pk_of(d)] = ref(obj)
            inserted[id(obj)] = (obj, assigned)
            pending.pop(id(obj), None)

    def _write_updates(self, conn: sa.Connection, objects: list[Model], journal: _Journal) -> None:
        groups: dict[tuple[ModelPlan, tuple[str, ...]], list[Model]] = {}
        for obj in objects:
            plan = type(obj).__sx_plan__
            if plan.relations:
                _sync_foreign_keys(obj)
            changed = changed_fields(obj)
            if not changed:
                self._dirty.pop(id(obj), None)
                continue
            groups.setdefault((plan, tuple(changed)), []).append(obj)
        imap = self.identity_map
        for (plan, names), group in groups.items():
            version = plan.version_field
            values = [n for n in names if n != version]
            statement = _keyed_statement(plan, "update")
            keys = [(f"sx_pk_{i}", n) for i, n in enumerate(plan.pk_names)]
            params = []
            for obj in group:
                d = obj.__dict__
                cols, vals = d["_sx_cols"], d["_sx_vals"]
                row = {n: d[n] for n in values}
                for param, n in keys:
                    row[param] = _stored(cols, vals, n, d)
                if version is not None:
                    row["sx_version"] = old_version = _stored(cols, vals, version, None)
                    row[version] = (old_version or 0) + 1
                params.append(row)
                journal.note_before(obj, "updated")
            _execute_matched(conn, statement, plan, group, params, version, check_missing=True)
            for obj, row in zip(group, params, strict=True):
                d = obj.__dict__
                if version is not None:
                    d[version] = row[version]
                old_key = row["sx_pk_0"] if len(keys) == 1 else tuple(row[param] for param, _ in keys)
                mark_persistent(obj)
                new_key = plan.pk_of(d)
                if new_key != old_key:
                    imap.discard(plan, old_key, obj)
                    imap.add(plan, new_key, obj)
                self._dirty.pop(id(obj), None)

    def _write_deletes(self, conn: sa.Connection, objects: list[Model], journal: _Journal) -> None:
        # relations (issue 6): on_delete=PROTECT refuses before anything is deleted
        check_protected_objects(lambda stmt: conn.execute(stmt).all(), objects)
        by_table: dict[sa.Table, list[Model]] = {}
        for obj in objects:
            by_table.setdefault(type(obj).__table__, []).append(obj)
        for table in reversed(_in_dependency_order(by_table)):
            batch = by_table[table]
            plan = type(batch[0]).__sx_plan__
            version = plan.version_field
            keys = [plan.pk_of(snapshot_of(obj)) for obj in batch]
            for obj in batch:
                journal.note_before(obj, "deleted")
            if version is None and len(plan.pk_names) == 1:
                column = plan.fields[plan.pk_names[0]].column
                for start in range(0, len(keys), _DELETE_CHUNK):
                    conn.execute(sa.delete(table).where(column.in_(keys[start : start + _DELETE_CHUNK])))
            else:
                statement = _keyed_statement(plan, "delete")
                params = []
                for obj, key in zip(batch, keys, strict=True):
                    parts = key if len(plan.pk_names) > 1 else (key,)
                    row = {f"sx_pk_{i}": v for i, v in enumerate(parts)}
                    if version is not None:
                        row["sx_version"] = snapshot_of(obj).get(version)
                    params.append(row)
                _execute_matched(conn, statement, plan, batch, params, version, check_missing=False)
            # relations (issue 6): what ON DELETE SET NULL / CASCADE did, on loaded objects
            deleted_in_memory(self.identity_map, type(batch[0]), batch, journal.note_before)
            for obj, key in zip(batch, keys, strict=True):
                self._forget_deleted(plan, key, obj)

    def _forget_deleted(self, plan: ModelPlan, key: Any, obj: Model) -> None:
        """A row is gone: its object leaves the identity map and stops being persistent."""
        self.identity_map.discard(plan, key, obj)
        forget_database_state(obj)
        obj.__dict__.pop("_sx_session", None)
        self._dirty.pop(id(obj), None)
        self._deleted.pop(id(obj), None)

    # -- transaction scopes (driven by SQLAlchemy's session events) ---------------------

    def _scope_created(self, sync: SyncSession, scope: SessionTransaction) -> None:
        if scope.nested or scope.parent is None:
            self._conn = None  # the next statement must go through the session (SAVEPOINT, BEGIN)

    def _scope_committing(self, sync: SyncSession) -> None:
        self._committing = sync.get_nested_transaction() or sync.get_transaction()

    def _scope_ended(self, sync: SyncSession, scope: SessionTransaction) -> None:
        if not (scope.nested or scope.parent is None):
            return
        self._conn = None
        journal = self._journals.pop(scope, None)
        if scope is self._committing:
            self._committing = None
            if scope.nested and journal is not None:
                parent = _boundary(scope.parent)
                if parent is not None:
                    journal.merge_into(self._journals.setdefault(parent, _Journal()))
            elif not scope.nested:
                self._journals.clear()
            return
        # Ended without a commit: rolled back (or closed, which rolls back).
        self._discard_pending()
        if journal is not None:
            self._undo(journal)
        if scope.parent is None:
            self._journals.clear()
            self._failed = None

    def _flush_from_event(self, sync: SyncSession, *args: Any) -> None:
        """Plain SQLAlchemy code is about to commit, flush or query: write our changes first."""
        self._flush_sync(sync)

    def _discard_pending(self) -> None:
        """Unflushed work belongs to the scope being rolled back: drop it."""
        for obj in self._new.values():
            obj.__dict__.pop("_sx_session", None)
        for obj in self._dirty.values():
            d = obj.__dict__
            if "_sx_cols" in d:
                restore_snapshot(obj, d["_sx_cols"], d["_sx_vals"])
        self._new.clear()
        self._dirty.clear()
        self._deleted.clear()

    def _undo(self, journal: _Journal) -> None:
        imap = self.identity_map
        for obj, assigned in journal.inserted.values():
            plan = type(obj).__sx_plan__
            d = obj.__dict__
            if "_sx_cols" in d:
                imap.discard(plan, plan.pk_of(snapshot_of(obj)), obj)
            forget_database_state(obj, assigned)
            if d.get("_sx_session") is self:
                del d["_sx_session"]
        for obj, cols, vals in journal.deleted.values():
            plan = type(obj).__sx_plan__
            restore_snapshot(obj, cols, vals)
            obj.__dict__["_sx_session"] = self
            imap.add(plan, plan.pk_of(obj.__dict__), obj)
        for obj, cols, vals in journal.updated.values():
            plan = type(obj).__sx_plan__
            current = plan.pk_of(snapshot_of(obj))
            restore_snapshot(obj, cols, vals)
            restored = plan.pk_of(obj.__dict__)
            if restored != current:
                imap.discard(plan, current, obj)
                imap.add(plan, restored, obj)

    # -- savepoints ----------------------------------------------------------------------

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[Session]:
        """A SAVEPOINT: the block's changes are undone alone if it raises.

        Pending changes are flushed first (they belong to the enclosing scope). On an
        exception the savepoint is rolled back and every object it touched returns to
        its state before the block; the exception propagates.
        """
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            nested = await self.sa_session.begin_nested()
        scope = nested.sync_transaction
        assert scope is not None
        self._savepoints.append(scope)
        try:
            yield self
            async with self._lock:
                self._check_usable()
                await self._flush_unlocked()
            await nested.commit()
        except BaseException:
            if scope.is_active:
                await _shielded(nested.rollback())
            raise
        finally:
            self._savepoints.remove(scope)
            if self._failed_savepoint is not None and self._failed_savepoint[0] is scope:
                self._failed_savepoint = None

    # -- connections ---------------------------------------------------------------------

    async def _primary(self) -> AsyncConnection:
        """The session's connection to the primary (its transaction starts here)."""
        if not self._on_primary:
            self._on_primary = True
        if self._replica_conn is not None:
            await self._release_replica()
        conn = self._conn
        if conn is None:
            conn = self._conn = await self.sa_session.connection()
        return conn

    def use_primary(self) -> None:
        """Read from the primary from now on (a write is coming, e.g. ``get_or_create``)."""
        self._on_primary = True

    async def _reader(self, statement: Any) -> AsyncConnection:
        """Where a read runs: a replica until the session has used the primary."""
        if self._on_primary or not _is_plain_read(statement) or self.sa_session.in_transaction():
            return await self._primary()
        assert self.database is not None
        if self.database._pinned is not None or self.database._wrote_recently():
            return await self._primary()
        conn = self._replica_conn
        if conn is None:
            conn = self._replica_conn = await self.database._next_replica().connect()
        return conn

    async def _release_replica(self) -> None:
        conn, self._replica_conn = self._replica_conn, None
        if conn is not None:
            await _shielded(conn.close())

    # -- runner protocol (used by QuerySet and Model) -----------------------------------

    def hydrate(
        self, plan: ModelPlan, rows: Any, names: tuple[str, ...] | None = None, offset: int = 0
    ) -> list[Any]:
        """Rows -> objects of this session, through the identity map."""
        loader = rows_loader(plan, plan.field_names if names is None else names, offset)
        objects = loader(rows, self, self.identity_map.for_plan(plan))
        self.identity_map.note_inserts(len(objects))
        return objects

    async def fetch_objects(self, qs: QuerySet[Any]) -> list[Any]:
        statement, parameters = qs._executable(self.dialect)
        async with self._lock:
            self._check_usable()
            if self._new or self._dirty or self._deleted:
                await self._flush_unlocked()
            conn = self._conn if self._on_primary and self._replica_conn is None else None
            if conn is None:
                conn = await self._reader(statement)
            rows = await _rows(conn, statement, parameters)
        # queries (issue 5): only()/defer() select fewer fields; annotations follow them
        objects = qs._attach_extras(self.hydrate(qs._plan, rows, qs._load_fields), rows)
        if _has_eager(qs):
            await load_eager(self, qs, rows, objects)
        return objects

    async def fetch_scalar(self, statement: Any, parameters: dict[str, Any] | None = None) -> Any:
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            conn = await self._reader(statement)
            return await _scalar(conn, statement, parameters)

    async def fetch_all(self, statement: Any, parameters: dict[str, Any] | None = None) -> list[Any]:
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            conn = await self._reader(statement)
            return list(await _rows(conn, statement, parameters, rows=True))

    async def stream_rows(self, statement: Any, chunk_size: int) -> AsyncIterator[Any]:
        """Rows of ``statement`` in lists of ``chunk_size``, through a server-side cursor (``QuerySet.iterator``).

        The session's lock is held while a chunk is fetched, not between chunks.
        """
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            conn = await self._reader(statement)
            result = await conn.stream(statement.execution_options(yield_per=chunk_size))
        try:
            partitions = result.partitions(chunk_size)
            while True:
                async with self._lock:
                    rows = await anext(partitions, None)
                if rows is None:
                    return
                yield rows
        finally:
            await _shielded(result.close())

    async def stream_objects(self, qs: QuerySet[Any], chunk_size: int) -> AsyncIterator[list[Any]]:
        """``qs``'s objects in lists of ``chunk_size``, through the identity map (``QuerySet.iterator``)."""
        eager = _has_eager(qs)  # relations (issue 6): select_related, prefetch per chunk
        if eager:
            check_streaming(self.dialect, qs)
        async for rows in self.stream_rows(qs.statement, chunk_size):
            objects = qs._attach_extras(self.hydrate(qs._plan, rows, qs._load_fields), rows)
            if eager:
                await load_eager(self, qs, rows, objects)
            yield objects

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run any Core statement in this session's transaction (after a flush)."""
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            if _is_plain_read(statement):
                conn = await self._reader(statement)
            else:
                conn = await self._primary()
                if self.database is not None:
                    self.database._note_write()
            return await conn.execute(statement, parameters)

    async def insert_objects(self, objects: list[Model]) -> None:
        for obj in objects:
            self.add(obj)
        await self.flush()

    async def bulk_insert(
        self,
        objects: list[Model],
        *,
        batch_size: int | None = None,
        on_conflict: OnConflict | None = None,
        unique_fields: tuple[str, ...] = (),
        update_fields: tuple[str, ...] = (),
    ) -> None:
        """``bulk_create``: without ``on_conflict``, the unit of work's batched INSERTs.

        With ``on_conflict`` the rows go through the dialect's upsert statement and the
        objects stay transient (the database may have kept another row in their place).
        """
        size = batch_size or len(objects) or 1
        if on_conflict is None:
            for start in range(0, len(objects), size):
                for obj in objects[start : start + size]:
                    self.add(obj)
                await self.flush()
            return
        plan = type(objects[0]).__sx_plan__
        statement = upsert_statement(self.dialect, plan, on_conflict, unique_fields, update_fields)
        _validate_all(plan, objects, lambda obj: [n for n in plan.fields if n in obj.__dict__])
        rows = [{n: o.__dict__[n] for n in plan.fields if n in o.__dict__} for o in objects]
        if len({tuple(r) for r in rows}) != 1:
            raise SessionError(
                f"bulk_create(on_conflict=...) needs every {plan.model.__name__} to set the same "
                f"fields (give the defaults explicitly)"
            )
        for start in range(0, len(rows), size):
            await self.execute(statement, rows[start : start + size])

    async def bulk_update_objects(self, objects: list[Model], fields: tuple[str, ...], batch_size: int | None) -> int:
        """``bulk_update``: one UPDATE per batch; returns the number of rows matched."""
        async with self._lock:
            self._check_usable()
            # Flush everything else first; these objects' own changes are what the bulk
            # statement writes (their other changed fields stay pending).
            held = {id(o): o for o in objects if self._dirty.pop(id(o), None) is not None}
            try:
                await self._flush_unlocked()
            finally:
                self._dirty.update(held)
            count: int = await self.sa_session.run_sync(self._bulk_update_sync, objects, fields, batch_size)
            return count

    def _bulk_update_sync(
        self, sync: SyncSession, objects: list[Model], fields: tuple[str, ...], batch_size: int | None
    ) -> int:
        plan = type(objects[0]).__sx_plan__
        _validate_all(plan, objects, lambda obj: fields)
        conn = sync.connection()
        self._on_primary = True
        scope, journal = self._scope_journal(sync)
        size = batch_size or len(objects)
        version = plan.version_field
        versions = [snapshot_of(o).get(version) for o in objects] if version else []
        count = 0
        try:
            for start in range(0, len(objects), size):
                batch = objects[start : start + size]
                expected = versions[start : start + size]
                matched = conn.execute(bulk_update_statement(plan, batch, fields, expected)).rowcount
                if version is not None and matched != len(batch):
                    raise StaleObjectError(
                        f"bulk_update: {len(batch) - matched} of {len(batch)} {plan.model.__name__} rows "
                        f"were changed by another transaction (their {version} moved on) or deleted; "
                        f"nothing was written: reload them and apply the change again"
                    )
                count += matched
        except (sa_exc.IntegrityError, StaleObjectError) as exc:
            self._fail_scope(sync, scope, exc)
            if isinstance(exc, sa_exc.IntegrityError):
                raise IntegrityError(f"{plan.model.__name__}: {exc.orig}") from exc
            raise
        if version is not None:
            for obj, old in zip(objects, versions, strict=True):
                obj.__dict__[version] = (old or 0) + 1
            fields = (*fields, version)
        for obj in objects:
            d = obj.__dict__
            if "_sx_cols" not in d:
                continue
            journal.note_before(obj, "updated")
            state = snapshot_of(obj)
            state.update((n, d[n]) for n in fields)
            d["_sx_cols"] = tuple(state)
            d["_sx_vals"] = tuple(state.values())
            if not changed_fields(obj):
                self._dirty.pop(id(obj), None)
        if self.database is not None:
            self.database._note_write()
        return count

    async def delete_where(self, model: type[Model], statement: Any, rows_statement: Any) -> int:
        """``QuerySet.delete()``: one DELETE, and the loaded objects follow it.

        Loaded objects of the deleted rows stop being persistent, and what the database's
        ON DELETE did to loaded related objects (SET NULL, CASCADE) is mirrored, as for
        ``instance.delete()``; a rollback brings them back. The rows are read first only
        when the session holds loaded objects at all.
        """
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            count: int = await self.sa_session.run_sync(self._delete_where_sync, model, statement, rows_statement)
            return count

    def _delete_where_sync(self, sync: SyncSession, model: type[Model], statement: Any, rows_statement: Any) -> int:
        plan = model.__sx_plan__
        conn = sync.connection()
        self._on_primary = True
        scope, journal = self._scope_journal(sync)
        imap = self.identity_map
        rows = conn.execute(rows_statement).all() if any(True for _ in imap.objects()) else []
        try:
            count = conn.execute(statement).rowcount
        except sa_exc.IntegrityError as exc:
            self._fail_scope(sync, scope, exc)
            raise IntegrityError(f"{plan.model.__name__}: {exc.orig}") from exc
        if rows:
            gone = rows_loader(plan, plan.field_names)(rows, None, None)  # detached stand-ins
            deleted_in_memory(imap, model, gone, journal.note_before)
            for row in gone:
                key = plan.pk_of(row.__dict__)
                obj = imap.get(plan, key)
                if obj is None or "_sx_cols" not in obj.__dict__:
                    continue
                journal.note_before(obj, "deleted")
                self._forget_deleted(plan, key, obj)
        if self.database is not None:
            self.database._note_write()
        return int(count)

    async def save_object(self, obj: Model) -> None:
        self.add(obj)
        if "_sx_cols" in obj.__dict__:
            self._dirty[id(obj)] = obj
        await self.flush()

    async def delete_object(self, obj: Model) -> None:
        self.delete(obj)
        await self.flush()

    async def refresh(self, obj: Model) -> None:
        """Read every field of ``obj`` again, from the primary (pending changes are flushed first)."""
        await self.refresh_object(obj)

    async def refresh_object(self, obj: Model) -> None:
        plan = type(obj).__sx_plan__
        d = obj.__dict__
        known = snapshot_of(obj)
        where = [plan.fields[n].column == known.get(n, d.get(n)) for n in plan.pk_names]
        async with self._lock:
            self._check_usable()
            await self._flush_unlocked()
            conn = await self._primary()
            row = (await conn.execute(sa.select(*plan.table.columns).where(*where))).first()
        if row is None:
            raise type(obj).DoesNotExist(f"{obj!r} no longer exists in the database")
        names = plan.field_names
        restore_snapshot(obj, names, tuple(row))  # also drops a loaded relation whose key changed
        mark_persistent(obj, names)
        self._dirty.pop(id(obj), None)

    async def load_relations(self, objects: list[Model], relations: Iterable[Any]) -> None:
        """``await obj.load("author", "tags")``: always reads (relations work, issue 6)."""
        await prefetch_related_objects(self, objects, relations, force=True)

    async def get(self, model: type[Model], pk: Any) -> Any:
        """The object with this primary key: from the identity map, else one SELECT."""
        plan = model.__sx_plan__
        found = self.identity_map.get(plan, pk)
        if found is not None and id(found) not in self._deleted:
            return found
        if len(plan.pk_names) == 1:
            return await model.objects.using(self).get(**{plan.pk_names[0]: pk})
        return await model.objects.using(self).get(**dict(zip(plan.pk_names, pk, strict=True)))


# --------------------------------------------------------------------------- events


class _SyncSession(SyncSession):
    """The sync session behind the sessions sqlmodelx opens (event hooks registered once)."""


def _dispatch(method: str) -> Any:
    def handler(sync: SyncSession, *args: Any) -> None:
        owner = sync.info.get(_INFO_KEY)
        if owner is not None:
            getattr(owner, method)(sync, *args)

    return handler


def _on_orm_execute(state: Any) -> None:
    owner = state.session.info.get(_INFO_KEY)
    if owner is not None:
        owner._flush_sync(state.session)


_HOOKS = {
    "after_transaction_create": _dispatch("_scope_created"),
    "after_transaction_end": _dispatch("_scope_ended"),
    "after_commit": _dispatch("_scope_committing"),
    "before_commit": _dispatch("_flush_from_event"),
    "before_flush": _dispatch("_flush_from_event"),
    "do_orm_execute": _on_orm_execute,
}


def _install_hooks(target: Any) -> None:
    for name, handler in _HOOKS.items():
        event.listen(target, name, handler)


_install_hooks(_SyncSession)


def _boundary(scope: SessionTransaction | None) -> SessionTransaction | None:
    """The savepoint or root transaction at or above ``scope`` (flush sub-transactions skipped)."""
    while scope is not None and not (scope.nested or scope.parent is None):
        scope = scope.parent
    return scope


_background: set[asyncio.Task[Any]] = set()


async def _shielded(awaitable: Awaitable[Any]) -> Any:
    """Run cleanup to the end even if the waiting task is cancelled again (NOTES 11)."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _background.add(task)
        task.add_done_callback(_background.discard)
        raise


# --------------------------------------------------------------------------- helpers


def _has_eager(qs: Any) -> bool:
    """Whether a QuerySet loads relations besides its rows (select_related, prefetch)."""
    eager = getattr(qs, "_eager", None)
    if eager is not None and not (eager.select_related or eager.prefetch or eager.link is not None):
        return False  # without building the statement (``_joins`` would)
    if eager is not None and (eager.prefetch or eager.link is not None):
        return True
    return bool(getattr(qs, "_joins", ()))


def _validate_all(plan: ModelPlan, objects: list[Model], names: Any) -> None:
    """Check every object of a bulk write; one ValidationError lists them all (``[i].field``)."""
    errors: list[dict[str, Any]] = []
    for i, obj in enumerate(objects):
        try:
            validate_changes(obj, names(obj))
        except ValidationError as exc:
            errors.extend({**error, "field": f"[{i}].{error['field']}"} for error in exc.errors())
    if errors:
        raise ValidationError(plan.model.__name__, errors)


async def _rows(
    conn: AsyncConnection, statement: Any, parameters: dict[str, Any] | None, single: bool = False, rows: bool = False
) -> Any:
    """The rows of a read: a template (``parameters`` given) may run on the driver directly.
    ``rows``: SQLAlchemy ``Row`` objects (``fetch_all``), not just sequences."""
    if parameters is None:
        return (await conn.execute(statement)).all()
    return await _direct.fetch(conn, statement, parameters, single=single, rows=rows)


async def _scalar(conn: AsyncConnection, statement: Any, parameters: dict[str, Any] | None, single: bool = False) -> Any:
    """The first column of the first row of a read (None without rows), as ``Result.scalar()``."""
    if parameters is None:
        return (await conn.execute(statement)).scalar()
    rows = await _direct.fetch(conn, statement, parameters, single=single)
    return rows[0][0] if rows else None


def _is_plain_read(statement: Any) -> bool:
    """A SELECT without FOR UPDATE: may run on a replica."""
    return bool(getattr(statement, "is_select", False)) and getattr(statement, "_for_update_arg", None) is None


def _unsaved_related(obj: Model) -> list[Model]:
    """Related objects set on ``obj`` that were never saved (they are added with it)."""
    d = obj.__dict__
    found = []
    for rel in type(obj).__sx_plan__.relations.values():
        target = d.get(rel.name)
        if isinstance(target, Model) and "_sx_cols" not in target.__dict__:
            found.append(target)
    return found


def _keys_from_unsaved(obj: Model) -> set[str]:
    """Foreign key fields that get their value when a new related object is inserted."""
    d = obj.__dict__
    return {
        rel.column_name
        for rel in type(obj).__sx_plan__.relations.values()
        if isinstance(d.get(rel.name), Model) and "_sx_cols" not in d[rel.name].__dict__
    }


def _sync_foreign_keys(obj: Model) -> None:
    """``book.author = a`` before ``a`` had an id: copy the id now that it has one."""
    d = obj.__dict__
    for rel in type(obj).__sx_plan__.relations.values():
        target = d.get(rel.name)
        if target is not None:
            key = target.__dict__.get(rel.to_field or type(target).__sx_plan__.pk_names[0])
            if d.get(rel.column_name) != key:
                d[rel.column_name] = key


def _reject_zero_autoincrement(obj: Model) -> None:
    """MySQL/MariaDB store an explicit 0 in AUTO_INCREMENT as the next id (NOTES 9)."""
    plan = type(obj).__sx_plan__
    for name in plan.pk_names:
        spec = plan.fields[name]
        value = obj.__dict__.get(name)
        if spec.auto and type(value) is int and value == 0:
            raise ValidationError(
                type(obj).__name__,
                [{
                    "field": name,
                    "value": 0,
                    "message": "0 is not a valid AUTO_INCREMENT key on MySQL/MariaDB "
                    "(it would be replaced by the next id); leave it unset or use a positive id",
                }],
            )


def _stored(cols: tuple[str, ...], vals: Any, name: str, d: dict[str, Any] | None) -> Any:
    """The database value of field ``name`` in a snapshot (else ``d[name]``, else None)."""
    try:
        return vals[cols.index(name)]
    except ValueError:
        return d.get(name) if d is not None else None


def _keyed_statement(plan: ModelPlan, kind: str) -> Any:
    """``UPDATE``/``DELETE`` of one row by its key (``sx_pk_<i>``) and version (``sx_version``).

    Built once per model (the UPDATE's SET clause comes from each execution's parameters),
    so a flush reaches SQLAlchemy's compiled cache without building a statement.
    """
    statements: dict[str, Any] = plan.__dict__.setdefault("_sx_keyed", {})
    statement = statements.get(kind)
    if statement is None:
        where = [plan.fields[n].column == sa.bindparam(f"sx_pk_{i}") for i, n in enumerate(plan.pk_names)]
        if plan.version_field is not None:
            where.append(plan.fields[plan.version_field].column == sa.bindparam("sx_version"))
        statement = statements[kind] = (sa.update if kind == "update" else sa.delete)(plan.table).where(*where)
    return statement


def _execute_matched(
    conn: sa.Connection,
    statement: Any,
    plan: ModelPlan,
    objects: list[Model],
    params: list[dict[str, Any]],
    version: str | None,
    *,
    check_missing: bool,
) -> None:
    """Run a keyed UPDATE/DELETE; ``StaleObjectError`` unless every row matched.

    Versioned rows are always checked (one statement per row when the driver cannot count
    an executemany); unversioned rows only if ``check_missing`` and the count is free.
    """
    if len(params) == 1:  # the common case (save()): may run on the driver directly
        if _direct.rowcount_sync(conn, statement, params[0]) != 1 and (check_missing or version is not None):
            raise _stale(plan, objects, params, version)
        return
    countable = conn.dialect.supports_sane_multi_rowcount
    if countable and (check_missing or version is not None):
        if conn.execute(statement, params).rowcount != len(params):
            raise _stale(plan, objects, params, version)
    elif version is not None:
        for obj, row in zip(objects, params, strict=True):
            if _direct.rowcount_sync(conn, statement, row) != 1:
                raise _stale(plan, [obj], [row], version)
    else:
        conn.execute(statement, params)


def _stale(plan: ModelPlan, objects: list[Model], params: list[dict[str, Any]], version: str | None) -> StaleObjectError:
    name = plan.model.__name__
    keys = [plan.pk_of({n: row[f"sx_pk_{i}"] for i, n in enumerate(plan.pk_names)}) for row in params]
    shown = keys[0] if len(keys) == 1 else keys
    if version is not None:
        expected = [row.get("sx_version") for row in params]
        return StaleObjectError(
            f"{name} {shown!r} was changed or deleted by another transaction "
            f"(expected {version}={expected[0] if len(expected) == 1 else expected}); "
            f"nothing was written: reload it and apply your change again"
        )
    return StaleObjectError(
        f"{name} {shown!r} no longer exists in the database (deleted by another transaction?); "
        f"nothing was written"
    )


def _in_dependency_order(tables: dict[sa.Table, Any]) -> list[sa.Table]:
    """Parents before children (rows of one table referencing each other: see waves)."""
    ordered = sa.sql.util.sort_tables(tables)
    return [t for t in ordered if t in tables]


def _self_reference_waves(plan: ModelPlan, batch: list[Model]) -> list[list[Model]]:
    """New rows of one table in an order where a row's parent in the batch comes first."""
    own = [rel for rel in plan.relations.values() if rel.target is plan.model]
    if not own or len(batch) == 1:
        return [batch]
    waiting = {id(o): o for o in batch}
    waves: list[list[Model]] = []
    while waiting:
        wave = [
            o for o in waiting.values()
            if not any(id(o.__dict__.get(rel.name)) in waiting for rel in own)
        ]
        if not wave:
            raise SessionError(
                f"new {plan.model.__name__} objects refer to each other in a cycle; "
                f"flush one of them first with the reference unset, then set it"
            )
        waves.append(wave)
        for o in wave:
            del waiting[id(o)]
    return waves


def _insert_group(conn: sa.Connection, plan: ModelPlan, names: tuple[str, ...], group: list[Model]) -> tuple[str, ...]:
    """INSERT rows that set the same fields; returns the fields the database assigned.

    Batched wherever the values the database assigns can be matched to their objects:
    executemany without RETURNING when nothing comes back; RETURNING with
    ``sort_by_parameter_order`` where the dialect has an implicit sentinel (PostgreSQL,
    MariaDB); RETURNING matched by client-side keys; on SQLite RETURNING sorted by the
    rowid, which SQLite assigns in ascending order within one statement (NOTES 9).
    One statement per row otherwise. A batch whose only database-assigned value is an
    integer autoincrement key goes through ``_insert.py`` where the backend allows
    (PostgreSQL's unnest, SQLite's multi-row VALUES): one statement per chunk.
    """
    table = plan.table
    dialect = conn.dialect
    missing = tuple(n for n in plan.fields if n not in names and plan.fields[n].auto)
    auto_pk = table.autoincrement_column
    only_key = len(missing) == 1 and auto_pk is not None and plan.fields[missing[0]].column is auto_pk
    if only_key and len(group) > 1 and isinstance(auto_pk.type, sa.Integer):  # type: ignore[union-attr]
        keys = insert_returning_keys(conn, plan, names, group, missing[0])
        if keys is not None:
            for obj, key in zip(group, keys, strict=True):
                obj.__dict__[missing[0]] = key
            return missing
    rows = [{n: o.__dict__[n] for n in names} for o in group]
    if not missing:
        conn.execute(sa.insert(table), rows if len(rows) > 1 else rows[0])
        return ()
    returning = [plan.fields[n].column for n in missing]
    if len(rows) > 1 and dialect.insert_returning and dialect.use_insertmanyvalues:
        pk_given = all(n in names for n in plan.pk_names)
        if pk_given:
            pk_columns = [plan.fields[n].column for n in plan.pk_names]
            result = conn.execute(sa.insert(table).returning(*pk_columns, *returning), rows)
            width = len(pk_columns)
            found = {tuple(r[:width]): r[width:] for r in result}
            for obj in group:
                values = found[tuple(obj.__dict__[n] for n in plan.pk_names)]
                obj.__dict__.update(zip(missing, values, strict=True))
            return missing
        if auto_pk is not None and auto_pk.key in missing:
            sentinel = dialect.insertmanyvalues_implicit_sentinel & InsertmanyvaluesSentinelOpts.ANY_AUTOINCREMENT
            if sentinel:
                result = conn.execute(sa.insert(table).returning(*returning, sort_by_parameter_order=True), rows)
                for obj, values in zip(group, result.all(), strict=True):
                    obj.__dict__.update(zip(missing, values, strict=True))
                return missing
            if dialect.name == "sqlite" and isinstance(auto_pk.type, sa.Integer):
                at = missing.index(auto_pk.key)
                returned = sorted(conn.execute(sa.insert(table).returning(*returning), rows).all(), key=lambda r: r[at])
                if len(returned) != len(group) or returned[-1][at] - returned[0][at] != len(group) - 1:
                    raise SessionError(
                        f"SQLite assigned non-consecutive ids to {len(group)} new "
                        f"{plan.model.__name__} rows; cannot match them to their objects"
                    )
                for obj, values in zip(group, returned, strict=True):
                    obj.__dict__.update(zip(missing, values, strict=True))
                return missing
    for obj, row in zip(group, rows, strict=True):
        if dialect.insert_returning:
            values = conn.execute(sa.insert(table).returning(*returning), row).one()
            obj.__dict__.update(zip(missing, values, strict=True))
        else:
            result = conn.execute(sa.insert(table), row)
            obj.__dict__.update(zip(plan.pk_names, result.inserted_primary_key or (), strict=True))
    return missing if dialect.insert_returning else tuple(n for n in plan.pk_names if n in missing)
