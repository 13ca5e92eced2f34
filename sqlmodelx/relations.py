"""Relations beyond the foreign key column: reverse sides, many-to-many, managers (L3).

A ``ForeignKey`` is built by :mod:`sqlmodelx.model` (a ``<name>_id`` column and the
``book.author`` attribute). This module adds everything that needs both ends of a
relation, registered through the hooks ``model.py`` offers:

- the reverse side of every foreign key, once its target exists: a manager
  (``author.books``) or, for a one-to-one, a single object (``user.profile``);
- many-to-many relations: the association table (composite primary key, both foreign keys
  ``ON DELETE CASCADE``, named by the metadata's naming convention) or a user's ``through``
  model, and a manager on each side (``book.tags``, ``tag.books``);
- the helpers eager loading (:mod:`sqlmodelx.eager`, :mod:`sqlmodelx.prefetch`) and
  deletes (:mod:`sqlmodelx.deletion`) build on.

Every relation a model can be queried through is in its plan: forward ones in
``plan.relations`` (:class:`~sqlmodelx.model.RelationSpec`), reverse and many-to-many ones
in ``plan.related`` (:class:`ReverseRelation`, :class:`ManyToManyRelation`). All of them
answer ``kind``, ``many``, ``model`` and ``target``; the reverse and many-to-many ones also
``source_field``, ``target_field`` and ``correlate(outer)``, which is what a lookup or an
aggregate across a to-many relation needs to build its ``EXISTS`` or scalar subquery.

Nothing here loads a relation silently: reading one that was not loaded raises
``NotLoadedError``; managers run SQL only when awaited, through the runner protocol.
"""

from __future__ import annotations

import re
import typing
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from . import _context, registry
from . import model as _model
from .exc import ConfigurationError, FieldError
from .fields import ManyToManyInfo, snake_case
from .model import Model, ModelPlan, RelationSpec, relation_not_loaded

if TYPE_CHECKING:
    from .query import QuerySet

__all__ = [
    "Correlation",
    "LoadedList",
    "ManyToManyManager",
    "ManyToManyRelation",
    "RelatedManager",
    "ReverseRelation",
    "in_chunk_size",
    "in_values",
    "key_field",
    "relation_of",
    "target_of",
]

T = TypeVar("T", bound=Model)

#: Key of the instance ``__dict__`` entry holding prefetched to-many results by name.
PREFETCHED = "_sx_prefetched"


class Correlation(NamedTuple):
    """How to reach a relation's rows from an outer row, for a correlated subquery.

    ``SELECT ... FROM <from_> WHERE <where> AND <conditions on target>``: ``target`` is a
    fresh alias of the related model's table, ``where`` ties it to ``outer``.
    """

    from_: sa.FromClause
    where: ColumnElement[bool]
    target: sa.FromClause


def target_of(rel: Any) -> type[Model]:
    """The model a relation points at; ``ConfigurationError`` naming both if it never appeared."""
    target = rel.target
    if target is None:
        pending = getattr(rel, "target_name", None) or "?"
        raise ConfigurationError(
            f"{rel.model.__name__}.{rel.name} refers to model {pending!r}, which is not defined "
            f"(define `class {pending}(sx.Model)` or import its module before the first query)"
        )
    return target  # type: ignore[no-any-return]


def key_field(model: type[Model], to_field: str | None) -> str:
    """The field a relation references: ``to_field``, else the single primary key."""
    if to_field:
        return to_field
    names = model.__sx_plan__.pk_names
    if len(names) != 1:
        raise ConfigurationError(f"{model.__name__} has a composite primary key; relations need to_field=")
    return names[0]


def _instance_key(instance: Model, field: str, relation: str) -> Any:
    key = instance.__dict__.get(field)
    if key is None:
        raise ValueError(
            f"{type(instance).__name__} needs a value for {field!r} (save it first) "
            f"before {relation} can be used"
        )
    return key


# --------------------------------------------------------------------------- metadata


class ReverseRelation:
    """The reverse side of a foreign key: ``author.books`` for ``Book.author``.

    ``model`` is the model holding the accessor (``Author``), ``target`` the model whose
    rows it yields (``Book``), ``forward`` the foreign key's :class:`RelationSpec`.
    ``source_field`` is the referenced field of ``model`` (its primary key unless
    ``to_field=``) and ``target_field`` the foreign key field of ``target`` (``author_id``).
    ``many`` is False for the reverse of a one-to-one.
    """

    kind = "reverse"

    def __init__(self, name: str, forward: RelationSpec) -> None:
        assert forward.target is not None
        self.name = name
        self.forward = forward
        self.model: type[Model] = forward.target
        self.target: type[Model] = forward.model
        self.many = not is_one_to_one(forward)
        self.source_field = key_field(self.model, forward.to_field)
        self.target_field = forward.column_name
        self.nullable = forward.nullable
        self.on_delete = forward.info.on_delete

    @property
    def source_column(self) -> sa.Column[Any]:
        return self.model.__sx_plan__.fields[self.source_field].column

    @property
    def target_column(self) -> sa.Column[Any]:
        return self.target.__sx_plan__.fields[self.target_field].column

    def correlate(self, outer: sa.FromClause | None = None) -> Correlation:
        outer = self.model.__table__ if outer is None else outer
        target = self.target.__table__.alias()
        where = target.c[self.target_field] == outer.c[self.source_field]
        return Correlation(target, where, target)

    def condition_for(self, key: Any) -> ColumnElement[bool]:
        """Rows of ``target`` related to the instance whose ``source_field`` is ``key``."""
        condition: ColumnElement[bool] = self.target_column == key
        return condition

    def __repr__(self) -> str:
        return f"<reverse relation {self.model.__name__}.{self.name} -> {self.target.__name__}.{self.forward.name}>"


class ManyToManyRelation:
    """One side of a many-to-many relation: ``book.tags`` (and its mirror ``tag.books``).

    ``table`` is the association table (made for you, or the ``through`` model's table);
    ``link_source`` / ``link_target`` are its columns pointing at ``model`` and ``target``.
    ``source_field`` / ``target_field`` are the referenced fields (the primary keys).
    ``reverse`` is the mirror relation on ``target`` (None when ``related_name="+"``).
    """

    kind = "m2m"
    many = True

    def __init__(self, name: str, model: type[Model], target_name: str, info: ManyToManyInfo) -> None:
        self.name = name
        self.model = model
        self.target_name = target_name
        self.info = info
        self.target: type[Model] | None = None
        self.through: type[Model] | None = None
        self.table: sa.Table | None = None
        self.link_source: sa.Column[Any] | None = None
        self.link_target: sa.Column[Any] | None = None
        self.source_field = ""
        self.target_field = ""
        self.reverse: ManyToManyRelation | None = None
        #: True when (link_source, link_target) is the key or unique: add() uses ON CONFLICT.
        self.unique_pair = False

    def _bound(self) -> tuple[type[Model], sa.Table, sa.Column[Any], sa.Column[Any]]:
        target = target_of(self)
        if self.table is None or self.link_source is None or self.link_target is None:
            through = self.info.through
            name = through if isinstance(through, str) else getattr(through, "__name__", "?")
            raise ConfigurationError(
                f"{self.model.__name__}.{self.name}: the through model {name!r} is not defined "
                f"(define it or import its module before the first query)"
            )
        return target, self.table, self.link_source, self.link_target

    @property
    def source_column(self) -> sa.Column[Any]:
        return self.model.__sx_plan__.fields[self.source_field].column

    @property
    def target_column(self) -> sa.Column[Any]:
        return target_of(self).__sx_plan__.fields[self.target_field].column

    def correlate(self, outer: sa.FromClause | None = None) -> Correlation:
        target_model, table, link_source, link_target = self._bound()
        outer = self.model.__table__ if outer is None else outer
        link = table.alias()
        target = target_model.__table__.alias()
        from_ = link.join(target, target.c[self.target_field] == link.c[link_target.key])
        return Correlation(from_, link.c[link_source.key] == outer.c[self.source_field], target)

    def condition_for(self, key: Any) -> ColumnElement[bool]:
        _, table, link_source, link_target = self._bound()
        linked = sa.select(link_target).where(link_source == key)
        return self.target_column.in_(linked)

    def __repr__(self) -> str:
        return f"<many-to-many {self.model.__name__}.{self.name} -> {self.target_name}>"


def relation_of(plan: ModelPlan, name: str) -> Any:
    """The relation called ``name`` on a model (forward, reverse or many-to-many), or None."""
    rel = plan.relations.get(name)
    if rel is not None:
        return rel
    return plan.related.get(name)


# --------------------------------------------------------------------------- managers


class LoadedList(Sequence[T]):
    """``author.books.all()`` after a prefetch: the loaded objects, answered without SQL.

    A sequence you can iterate directly or ``await`` (giving a list), so code written for
    the unloaded case keeps working; chaining (``.filter()``...) builds a real query.
    """

    __slots__ = ("_items", "_manager")

    def __init__(self, items: list[T], manager: _ManagerBase[T]) -> None:
        self._items = items
        self._manager = manager

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._list().__await__()

    async def _list(self) -> list[T]:
        return list(self._items)

    async def __aiter__(self) -> AsyncIterator[T]:
        for item in self._items:
            yield item

    async def count(self) -> int:  # type: ignore[override]
        return len(self._items)

    async def exists(self) -> bool:
        return bool(self._items)

    async def first(self) -> T | None:
        return self._items[0] if self._items else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LoadedList):
            return self._items == other._items
        return self._items == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<loaded {self._manager._label()}: {self._items!r}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager.get_queryset(), name)


class _ManagerBase(Generic[T]):
    """What every to-many manager does: query, count and create the related rows."""

    __slots__ = ("instance", "relation")

    def __init__(self, instance: Model, relation: Any) -> None:
        self.instance = instance
        self.relation = relation

    def _label(self) -> str:
        return f"{type(self.instance).__name__}.{self.relation.name}"

    def _key(self) -> Any:
        return _instance_key(self.instance, self.relation.source_field, self._label())

    def _object_key_field(self) -> str:
        """The field of a related object that add/remove/set identify it by."""
        raise NotImplementedError

    def _related_keys(self, objs: Iterable[Any], method: str) -> list[Any]:
        target = target_of(self.relation)
        return _keys_of(objs, target, self._object_key_field(), f"{self._label()}.{method}()")

    def _cached(self) -> list[T] | None:
        cache = self.instance.__dict__.get(PREFETCHED)
        return None if cache is None else cache.get(self.relation.name)

    def _forget(self) -> None:
        cache = self.instance.__dict__.get(PREFETCHED)
        if cache is not None:
            cache.pop(self.relation.name, None)

    @property
    def is_loaded(self) -> bool:
        """Whether the related objects were prefetched (then reads send no SQL)."""
        return self._cached() is not None

    def get_queryset(self) -> QuerySet[T]:
        """A fresh query of the related rows (never the prefetched list)."""
        target = target_of(self.relation)
        return cast("QuerySet[T]", target.objects.filter(self.relation.condition_for(self._key())))

    def all(self) -> Any:
        """The related objects: the prefetched list when loaded, else a lazy query."""
        cached = self._cached()
        if cached is not None:
            return LoadedList(cached, self)
        return self.get_queryset()

    def filter(self, *args: Any, **kwargs: Any) -> QuerySet[T]:
        qs: QuerySet[T] = self.get_queryset().filter(*args, **kwargs)
        return qs

    def exclude(self, *args: Any, **kwargs: Any) -> QuerySet[T]:
        qs: QuerySet[T] = self.get_queryset().exclude(*args, **kwargs)
        return qs

    def order_by(self, *fields: Any) -> QuerySet[T]:
        return self.get_queryset().order_by(*fields)

    async def count(self) -> int:
        cached = self._cached()
        if cached is not None:
            return len(cached)
        return await self.get_queryset().count()

    async def exists(self) -> bool:
        cached = self._cached()
        if cached is not None:
            return bool(cached)
        return await self.get_queryset().exists()

    async def first(self) -> T | None:
        cached = self._cached()
        if cached is not None:
            return cached[0] if cached else None
        return await self.get_queryset().first()

    async def get(self, *args: Any, **kwargs: Any) -> T:
        return await self.get_queryset().get(*args, **kwargs)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        cached = self._cached()
        for obj in cached if cached is not None else await self.get_queryset():
            yield obj

    def __iter__(self) -> Iterator[T]:
        """Prefetched: the loaded objects. Otherwise a TypeError (iterating would need SQL)."""
        cached = self._cached()
        if cached is None:
            raise TypeError(
                f"{self._label()} is not loaded, so iterating it would need a query: use "
                f"`await obj.{self.relation.name}.all()`, `async for`, or "
                f"prefetch_related({self.relation.name!r}) first"
            )
        return iter(cached)

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        return f"<{type(self).__name__} {self._label()} ({state})>"


def _keys_of(objs: Iterable[Any], model: type[Model], field: str, label: str) -> list[Any]:
    """The key values of objects (or raw key values) passed to add/remove/set."""
    keys: list[Any] = []
    for obj in objs:
        if isinstance(obj, Model):
            if not isinstance(obj, model):
                raise TypeError(f"{label} takes {model.__name__} objects, not {type(obj).__name__}")
            keys.append(_instance_key(obj, field, label))
        elif obj is None:
            raise TypeError(f"{label} takes {model.__name__} objects or their keys, not None")
        else:
            keys.append(obj)
    return list(dict.fromkeys(keys))


def set_persisted(obj: Model, name: str, value: Any) -> None:
    """Set a field that a statement already wrote, without marking the object dirty."""
    d = obj.__dict__
    d[name] = value
    cols = d.get("_sx_cols")
    if cols is not None and name in cols:
        vals = list(d["_sx_vals"])
        vals[cols.index(name)] = value
        d["_sx_vals"] = tuple(vals)


class RelatedManager(_ManagerBase[T]):
    """``author.books``: the rows of a reverse foreign key.

    ``add`` / ``remove`` / ``clear`` / ``set`` move rows by rewriting their foreign key in
    one ``UPDATE`` each (``remove`` and ``clear`` only when the key is nullable).
    """

    __slots__ = ()

    def _object_key_field(self) -> str:
        return key_field(self.relation.target, None)

    def _repoint(self, keys: list[Any], value: Any, runner: Any, *, only_mine: bool) -> sa.Update:
        """``UPDATE target SET fk = value`` for the rows with these keys (or all of mine)."""
        relation: ReverseRelation = self.relation
        target, column = relation.target, relation.target_column
        stmt = sa.update(target.__table__).values({column.key: value})
        if keys:
            pk = target.__sx_plan__.fields[self._object_key_field()].column
            stmt = stmt.where(in_values(pk, keys, runner.dialect))
        if only_mine:
            stmt = stmt.where(column == self._key())
        return stmt

    async def create(self, **kwargs: Any) -> T:
        """Create a related object pointing at this instance."""
        relation: ReverseRelation = self.relation
        self._key()
        obj = cast(T, await relation.target.objects.create(**{relation.forward.name: self.instance, **kwargs}))
        cached = self._cached()
        if cached is not None:
            cached.append(obj)
        return obj

    async def add(self, *objs: T) -> None:
        """Point saved objects at this instance (one UPDATE)."""
        relation: ReverseRelation = self.relation
        key, keys = self._key(), self._related_keys(objs, "add")
        if not keys:
            return
        runner = _context.runner_for(None)
        await runner.execute(self._repoint(keys, key, runner, only_mine=False))
        for obj in objs:
            if isinstance(obj, Model):
                set_persisted(obj, relation.target_field, key)
                obj.__dict__[relation.forward.name] = self.instance
        self._forget()

    async def remove(self, *objs: T) -> None:
        """Set the foreign key of these related objects to NULL (one UPDATE)."""
        relation: ReverseRelation = self.relation
        self._require_nullable("remove")
        key, keys = self._key(), self._related_keys(objs, "remove")
        if not keys:
            return
        runner = _context.runner_for(None)
        await runner.execute(self._repoint(keys, None, runner, only_mine=True))
        for obj in objs:
            if isinstance(obj, Model) and obj.__dict__.get(relation.target_field) == key:
                set_persisted(obj, relation.target_field, None)
                obj.__dict__[relation.forward.name] = None
        self._forget()

    async def clear(self) -> None:
        """Set the foreign key of every related row to NULL (one UPDATE)."""
        self._require_nullable("clear")
        runner = _context.runner_for(None)
        await runner.execute(self._repoint([], None, runner, only_mine=True))
        self._forget()

    async def set(self, objs: Iterable[T]) -> None:
        """Make exactly these objects the related ones (NULL the others, then add these)."""
        objs = list(objs)
        self._require_nullable("set")
        keys = self._related_keys(objs, "set")
        runner = _context.runner_for(None)
        stmt = self._repoint([], None, runner, only_mine=True)
        if keys:
            pk = self.relation.target.__sx_plan__.fields[self._object_key_field()].column
            stmt = stmt.where(~in_values(pk, keys, runner.dialect))
        await runner.execute(stmt)
        await self.add(*objs)

    def _require_nullable(self, method: str) -> None:
        relation: ReverseRelation = self.relation
        if not relation.nullable:
            raise TypeError(
                f"{self._label()}.{method}() would set {relation.target.__name__}.{relation.target_field} "
                f"to NULL, which it does not allow; delete the objects or point them elsewhere"
            )


class ManyToManyManager(_ManagerBase[T]):
    """``book.tags`` / ``tag.books``: the two sides of a many-to-many relation.

    ``add`` is idempotent and sends ONE statement whatever the number of objects
    (``INSERT .. SELECT`` with the dialect's ignore-duplicates form); ``remove`` and
    ``clear`` one ``DELETE``; ``set`` a ``DELETE`` of the others and an ``add``.
    """

    __slots__ = ()

    def _object_key_field(self) -> str:
        return str(self.relation.target_field)

    def _unlink(self, keys: list[Any] | None, runner: Any, *, keep: bool = False) -> sa.Delete:
        """``DELETE`` my links to these keys (all of them if None; all others if ``keep``)."""
        _, table, link_source, link_target = self.relation._bound()
        stmt = sa.delete(table).where(link_source == self._key())
        if keys:
            chosen = in_values(link_target, keys, runner.dialect)
            stmt = stmt.where(~chosen if keep else chosen)
        return stmt

    async def add(self, *objs: T, through_defaults: dict[str, Any] | None = None) -> None:
        """Link these objects (saved instances or their keys); links that exist are kept."""
        key, keys = self._key(), self._related_keys(objs, "add")
        if not keys:
            return
        runner = _context.runner_for(None)
        await runner.execute(link_statement(self.relation, key, keys, through_defaults or {}, runner.dialect))
        self._forget()

    async def remove(self, *objs: T) -> None:
        """Unlink these objects (one DELETE on the association table)."""
        keys = self._related_keys(objs, "remove")
        if keys:
            await self._run_and_forget(lambda runner: self._unlink(keys, runner))

    async def clear(self) -> None:
        """Unlink every related object (one DELETE on the association table)."""
        await self._run_and_forget(lambda runner: self._unlink(None, runner))

    async def set(self, objs: Iterable[T], *, through_defaults: dict[str, Any] | None = None) -> None:
        """Make exactly these objects the related ones: unlink the others, link the new ones."""
        objs = list(objs)
        keys = self._related_keys(objs, "set")
        await self._run_and_forget(lambda runner: self._unlink(keys, runner, keep=True))
        await self.add(*objs, through_defaults=through_defaults)

    async def _run_and_forget(self, build: Callable[[Any], Any]) -> None:
        runner = _context.runner_for(None)
        await runner.execute(build(runner))
        self._forget()

    async def create(self, *, through_defaults: dict[str, Any] | None = None, **kwargs: Any) -> T:
        """Create a target object and link it (an INSERT, then the link)."""
        self._key()
        obj = cast(T, await target_of(self.relation).objects.create(**kwargs))
        await self.add(obj, through_defaults=through_defaults)
        return obj


def link_statement(
    relation: ManyToManyRelation,
    key: Any,
    keys: list[Any],
    extra: dict[str, Any],
    dialect: sa.Dialect,
) -> sa.Insert:
    """``INSERT INTO link SELECT :key, target.pk [, extras] FROM target WHERE pk IN (...)``.

    One statement whatever the number of keys; existing links are skipped with the
    dialect's own form (ON CONFLICT DO NOTHING, ON DUPLICATE KEY UPDATE as a no-op), or
    with ``NOT EXISTS`` when the through model does not make the pair unique. Keys of rows
    that do not exist are skipped.
    """
    target, table, link_source, link_target = relation._bound()
    target_column = relation.target_column
    unknown = sorted(set(extra) - set(table.c.keys()))
    if unknown:
        raise FieldError(
            f"through_defaults of {relation.model.__name__}.{relation.name}: {table.name} has no "
            f"column {unknown[0]!r}; columns: {', '.join(table.c.keys())}"
        )
    columns = [
        sa.literal(key, link_source.type).label(link_source.key),
        target_column.label(link_target.key),
        *(sa.literal(value, table.c[name].type).label(name) for name, value in extra.items()),
    ]
    select = sa.select(*columns).where(in_values(target_column, keys, dialect))
    names = [link_source.key, link_target.key, *extra]
    name = dialect.name
    if relation.unique_pair and name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).from_select(names, select).on_conflict_do_nothing()
    if relation.unique_pair and name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).from_select(names, select).on_conflict_do_nothing()
    if relation.unique_pair and name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table).from_select(names, select)
        return stmt.on_duplicate_key_update({link_source.key: table.c[link_source.key]})
    existing = sa.select(sa.literal(1)).where(link_source == key, link_target == target_column)
    return sa.insert(table).from_select(names, select.where(~sa.exists(existing)))


# --------------------------------------------------------------------------- IN lists


def in_chunk_size(dialect: sa.Dialect) -> int:
    """How many values one ``IN (...)`` may carry on this backend, with room to spare.

    PostgreSQL (asyncpg) takes 32767 parameters; SQLite 32766 since 3.32 (999 before);
    MySQL/MariaDB drivers interpolate on the client, bounded by ``max_allowed_packet``.
    """
    name = dialect.name
    if name == "postgresql":
        return 30_000
    if name == "sqlite":
        import sqlite3

        return 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900
    if name in ("mysql", "mariadb"):
        return 50_000
    return 900


def in_values(column: ColumnElement[Any], values: Sequence[Any], dialect: sa.Dialect) -> ColumnElement[bool]:
    """``column IN (values)`` as one statement, beyond the parameter limit where possible.

    PostgreSQL gets ``= ANY(:array)`` (one parameter) above the limit.
    """
    if dialect.name == "postgresql" and len(values) > in_chunk_size(dialect):
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


# --------------------------------------------------------------------------- descriptors


class _ToManyAttribute:
    """``author.books`` / ``book.tags``: a manager on an instance, the relation on the class."""

    __slots__ = ("relation", "manager")

    def __init__(self, relation: Any, manager: type[_ManagerBase[Any]]) -> None:
        self.relation = relation
        self.manager = manager

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self.relation
        return self.manager(instance, self.relation)

    def __set__(self, instance: Any, value: Any) -> None:
        name = self.relation.name
        raise AttributeError(
            f"{type(instance).__name__}.{name} is a manager and cannot be assigned; "
            f"use `await obj.{name}.set([...])`"
        )


class _ReverseOneAttribute:
    """``user.profile`` for ``Profile.user = OneToOne(User)``: the object, None, or NotLoadedError."""

    __slots__ = ("relation",)

    def __init__(self, relation: ReverseRelation) -> None:
        self.relation = relation

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self.relation
        rel = self.relation
        try:
            return instance.__dict__[rel.name]
        except KeyError:
            pass
        label = f"{rel.model.__name__}.{rel.name} (the reverse of {rel.target.__name__}.{rel.forward.name})"
        raise relation_not_loaded(label, rel.name)

    def __set__(self, instance: Any, value: Any) -> None:
        rel = self.relation
        if value is not None:
            if not isinstance(value, rel.target):
                raise TypeError(f"{rel.model.__name__}.{rel.name} takes a {rel.target.__name__}, not {type(value).__name__}")
            setattr(value, rel.forward.name, instance)
        instance.__dict__[rel.name] = value


def _check_free(model: type[Model], name: str, what: str) -> None:
    plan = model.__sx_plan__
    if name in plan.fields or name in plan.relations or name in plan.related or hasattr(model, name):
        raise ConfigurationError(
            f"{model.__name__}.{name} already exists, so {what} cannot use that name; "
            f"give it another with related_name=..., or related_name='+' for none"
        )


def is_one_to_one(rel: RelationSpec) -> bool:
    """A foreign key whose column is unique (OneToOne, or the whole primary key)."""
    info = rel.info
    return bool(info.unique or (info.primary_key and len(rel.model.__sx_plan__.pk_names) == 1))


def _add_reverse(rel: RelationSpec) -> None:
    """Hook: a foreign key found its target, so the target gets the reverse accessor."""
    target = rel.target
    assert target is not None
    name = rel.related_name
    if name is None:
        name = snake_case(rel.model.__name__) + ("" if is_one_to_one(rel) else "_set")
    if name.endswith("+"):
        return
    if not name.isidentifier():
        raise ConfigurationError(f"{rel.model.__name__}.{rel.name}: related_name={name!r} is not an identifier")
    _check_free(target, name, f"the reverse of {rel.model.__name__}.{rel.name}")
    reverse = ReverseRelation(name, rel)
    target.__sx_plan__.related[name] = reverse
    descriptor = _ToManyAttribute(reverse, RelatedManager) if reverse.many else _ReverseOneAttribute(reverse)
    setattr(target, name, descriptor)


_LIST_ANNOTATION = re.compile(r"^\s*(?:typing\.)?(?:list|List|set|Set|Sequence|tuple)\[\s*['\"]?([\w.]+)['\"]?\s*(?:,\s*\.\.\.\s*)?\]\s*$")


def _m2m_target_name(owner: str, attr: str, annotation: Any, info: ManyToManyInfo) -> str:
    to = info.to
    if to is None:
        if isinstance(annotation, str):
            match = _LIST_ANNOTATION.match(annotation)
            to = match.group(1) if match else None
        else:
            args = typing.get_args(annotation)
            to = args[0] if args else None
            if isinstance(to, typing.ForwardRef):
                to = to.__forward_arg__
    if isinstance(to, type) and issubclass(to, Model):
        return to.__name__
    if isinstance(to, str) and to:
        return to
    raise ConfigurationError(
        f"{owner}.{attr}: cannot tell the target of the many-to-many relation from {annotation!r}; "
        f"annotate it `list[Target]` or pass sx.ManyToMany(Target)"
    )


def _declare_many_to_many(cls: type[Model], attr: str, annotation: Any, info: ManyToManyInfo) -> None:
    """Hook: a ``ManyToMany`` field; finished when its target (and through model) exist."""
    target_name = _m2m_target_name(cls.__name__, attr, annotation, info)
    relation = ManyToManyRelation(attr, cls, target_name, info)
    cls.__sx_plan__.related[attr] = relation
    setattr(cls, attr, _ToManyAttribute(relation, ManyToManyManager))

    def bind_target(target: type[Model]) -> None:
        relation.target = target
        through = info.through
        if through is None:
            _make_link_table(relation)
            _add_mirror(relation)
        else:
            through_name = through if isinstance(through, str) else through.__name__
            registry.when_defined(through_name, cls, attr, bind_through)

    def bind_through(through: type[Model]) -> None:
        _use_through_model(relation, through)
        _add_mirror(relation)

    registry.when_defined(target_name, cls, attr, bind_target)


def _single_pk_field(model: type[Model], relation: str) -> str:
    names = model.__sx_plan__.pk_names
    if len(names) != 1:
        raise ConfigurationError(f"{relation}: {model.__name__} needs a single-column primary key for many-to-many")
    return names[0]


def _make_link_table(relation: ManyToManyRelation) -> None:
    """The association table: both keys, composite primary key, both FKs ON DELETE CASCADE."""
    model, target = relation.model, target_of(relation)
    label = f"{model.__name__}.{relation.name}"
    source_pk = _single_pk_field(model, label)
    target_pk = _single_pk_field(target, label)
    source_name, target_name = snake_case(model.__name__), snake_case(target.__name__)
    if source_name == target_name:
        source_name, target_name = f"from_{source_name}", f"to_{target_name}"
    source_key, target_key = f"{source_name}_{source_pk}", f"{target_name}_{target_pk}"
    source_col = model.__sx_plan__.fields[source_pk].column
    target_col = target.__sx_plan__.fields[target_pk].column
    metadata = model.metadata
    name = relation.info.db_table or f"{model.__tablename__}_{relation.name}"
    if name in metadata.tables:
        raise ConfigurationError(
            f"{label}: its association table {name!r} already exists in this MetaData; "
            f"pass db_table= to ManyToMany"
        )
    table = sa.Table(
        name,
        metadata,
        sa.Column(source_key, _model._fk_type(source_col.type), sa.ForeignKey(source_col, ondelete="CASCADE"), primary_key=True),
        sa.Column(target_key, _model._fk_type(target_col.type), sa.ForeignKey(target_col, ondelete="CASCADE"), primary_key=True, index=True),
    )
    table.info["sqlmodelx_m2m"] = label
    relation.table = table
    relation.link_source, relation.link_target = table.c[source_key], table.c[target_key]
    relation.source_field, relation.target_field = source_pk, target_pk
    relation.unique_pair = True


def _use_through_model(relation: ManyToManyRelation, through: type[Model]) -> None:
    """A user's through model: find its foreign keys to both ends (``through_fields`` to choose)."""
    model, target = relation.model, target_of(relation)
    label = f"{model.__name__}.{relation.name}"
    plan = through.__sx_plan__
    chosen = relation.info.extra.get("through_fields")
    if chosen is not None:
        try:
            source_fk, target_fk = (plan.relations[n] for n in chosen)
        except KeyError as exc:
            raise ConfigurationError(f"{label}: through_fields names {exc.args[0]!r}, not a foreign key of {through.__name__}") from None
    else:
        to_source = [r for r in plan.relations.values() if _points_at(r, model, through)]
        to_target = [r for r in plan.relations.values() if _points_at(r, target, through)]
        if model is target and len(to_source) >= 2:
            source_fk, target_fk = to_source[0], to_source[1]
        elif len(to_source) == 1 and len(to_target) == 1 and to_source[0] is not to_target[0]:
            source_fk, target_fk = to_source[0], to_target[0]
        else:
            raise ConfigurationError(
                f"{label}: the through model {through.__name__} needs exactly one foreign key to "
                f"{model.__name__} and one to {target.__name__} (found {len(to_source)} and "
                f"{len(to_target)}); pass through_fields=(source, target)"
            )
    relation.through = through
    relation.table = through.__table__
    relation.link_source = plan.fields[source_fk.column_name].column
    relation.link_target = plan.fields[target_fk.column_name].column
    relation.source_field = key_field(model, source_fk.to_field)
    relation.target_field = key_field(target, target_fk.to_field)
    pair = {relation.link_source.key, relation.link_target.key}
    keys = [{c.key for c in through.__table__.primary_key.columns}]
    for constraint in through.__table__.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            keys.append({c.key for c in constraint.columns})
    keys.extend({c.key for c in index.columns} for index in through.__table__.indexes if index.unique)
    relation.unique_pair = pair in keys


def _points_at(rel: RelationSpec, model: type[Model], through: type[Model]) -> bool:
    """Whether a foreign key of ``through`` targets ``model`` (bound yet or not)."""
    if rel.target is not None:
        return rel.target is model
    return registry.lookup(rel.target_name, through) is model


def _add_mirror(relation: ManyToManyRelation) -> None:
    """The other side: ``tag.books`` for ``Book.tags``."""
    target = target_of(relation)
    name = relation.info.related_name
    if name is None:
        name = snake_case(relation.model.__name__) + "_set"
    if name.endswith("+"):
        return
    _check_free(target, name, f"the reverse of {relation.model.__name__}.{relation.name}")
    mirror = ManyToManyRelation(name, target, relation.model.__name__, relation.info)
    mirror.target = relation.model
    mirror.through = relation.through
    mirror.table = relation.table
    mirror.link_source, mirror.link_target = relation.link_target, relation.link_source
    mirror.source_field, mirror.target_field = relation.target_field, relation.source_field
    mirror.unique_pair = relation.unique_pair
    mirror.reverse, relation.reverse = relation, mirror
    target.__sx_plan__.related[name] = mirror
    setattr(target, name, _ToManyAttribute(mirror, ManyToManyManager))


_model._relation_bound_hooks.append(_add_reverse)
_model._many_to_many_hooks[:] = [_declare_many_to_many]
