"""QuerySet: an immutable, lazy description of a query, compiled onto Core (L3).

Chaining copies the QuerySet (SQLAlchemy's generative pattern) and never runs SQL.
Awaiting or iterating it hands the Core statement to the *runner* (the current session,
or a database in autocommit), which executes it and hydrates the rows.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import AsyncIterator, Generator, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from . import _context, model as _model
from .exc import FieldError, ValidationError
from .expressions import Expression, OrderBy, Q
from .lookups import get_lookup, lookup_names
from .relations import NO_EAGER, EagerOptions, JoinedRelation, as_prefetch, check_select_related, default_select_related

if TYPE_CHECKING:
    from typing import Self

    from .model import Model, ModelPlan

__all__ = ["QuerySet"]

M = TypeVar("M", bound="Model")

LOOKUP_SEP = "__"


def field_error(plan: ModelPlan, name: str, context: str) -> FieldError:
    """``FieldError`` naming the model, the bad name, the closest valid one and all of them."""
    names = plan.all_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return FieldError(
        f"{plan.model.__name__} has no field {name!r} (in {context}).{hint}\n"
        f"  Fields: {', '.join(names)}"
    )


class _Resolver:
    """Resolves names of one QuerySet's model into Core columns and conditions."""

    def __init__(self, qs: QuerySet[Any]) -> None:
        self.qs = qs
        self.plan = qs._plan

    def column(self, path: str, context: str) -> ColumnElement[Any]:
        if not isinstance(path, str):
            raise FieldError(f"{context} takes field names as strings, got {type(path).__name__}")
        annotation = self.qs._annotations.get(path)
        if annotation is not None:
            return annotation.resolve(self)  # type: ignore[no-any-return]
        parts = path.split(LOOKUP_SEP)
        if len(parts) == 1:
            spec = self.plan.fields.get(path)
            if spec is not None:
                return spec.column
            rel = self.plan.relations.get(path)
            if rel is not None:
                return self.plan.fields[rel.column_name].column
            if path == "pk" and len(self.plan.pk_names) == 1:
                return self.plan.fields[self.plan.pk_names[0]].column
        raise field_error(self.plan, parts[0], context)

    def condition(self, key: str, value: Any) -> ColumnElement[bool]:
        if not isinstance(key, str):
            raise FieldError(f"filter keys must be strings, got {type(key).__name__}")
        parts = key.split(LOOKUP_SEP)
        lookup_name = "exact"
        if len(parts) > 1 and get_lookup(parts[-1]) is not None:
            lookup_name = parts.pop()
        elif len(parts) > 1:
            if parts[0] in self.plan.fields:
                raise FieldError(
                    f"{self.plan.model.__name__}.{parts[0]}: unknown lookup {parts[-1]!r}; "
                    f"lookups: {', '.join(lookup_names())}"
                )
        path = LOOKUP_SEP.join(parts)
        column = self.column(path, "filter")
        lookup = get_lookup(lookup_name)
        assert lookup is not None
        spec = self._spec_for(path)
        if isinstance(value, Expression):
            value = value.resolve(self)
        elif isinstance(value, QuerySet):
            value = value._as_subquery()
        elif spec is not None and lookup.bind_as_column:
            value = _coerce_filter_value(spec, lookup_name, value, key)
        return lookup.build(column, value)

    def value(self, value: Any, like: ColumnElement[Any] | None = None) -> Any:
        if like is not None:
            return sa.literal(value, like.type)
        return sa.literal(value)

    def _spec_for(self, path: str) -> Any:
        spec = self.plan.fields.get(path)
        if spec is None and path in self.plan.relations:
            spec = self.plan.fields[self.plan.relations[path].column_name]
        if spec is None and path == "pk" and len(self.plan.pk_names) == 1:
            spec = self.plan.fields[self.plan.pk_names[0]]
        return spec


_TYPED_LOOKUPS = frozenset({"exact", "gt", "gte", "lt", "lte", "in", "range"})


def _coerce_filter_value(spec: Any, lookup_name: str, value: Any, key: str) -> Any:
    """Convert a filter value by the field's type first, so MariaDB never compares 'abc' to 0."""
    convert = spec.to_python
    if convert is None or lookup_name not in _TYPED_LOOKUPS or value is None:
        return value
    try:
        if lookup_name in ("in", "range"):
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise ValueError(f"{lookup_name} takes a list of values, got {type(value).__name__}")
            return [v if v is None else convert(v) for v in value]
        return convert(value)
    except ValueError as exc:
        raise ValidationError(
            spec.column.table.info["sqlmodelx_model"].__name__,
            [{"field": key, "value": value, "message": f"cannot be compared: {exc}"}],
        ) from None


class QuerySet(Generic[M]):
    """A lazy, immutable query over one model. See ``docs/queries.md``."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._plan: ModelPlan = model.__sx_plan__
        self._where: tuple[Any, ...] = ()
        self._order: tuple[Any, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None
        self._using: Any = None
        self._annotations: dict[str, Any] = {}
        self._statement: sa.Select[Any] | None = None

    # -- generative ----------------------------------------------------------------------

    def _clone(self) -> Self:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._statement = None
        return clone

    def filter(self, *args: Any, **kwargs: Any) -> Self:
        """Rows matching every condition (AND). Keys are Django lookups; args are Q or Core."""
        clone = self._clone()
        clone._where = (*self._where, Q(*args, **kwargs))
        return clone

    def exclude(self, *args: Any, **kwargs: Any) -> Self:
        """Rows NOT matching the conditions taken together."""
        clone = self._clone()
        clone._where = (*self._where, ~Q(*args, **kwargs))
        return clone

    def order_by(self, *fields: Any) -> Self:
        """Replace the ordering: ``"name"``, ``"-name"``, ``F(...).desc()`` or Core expressions."""
        clone = self._clone()
        clone._order = tuple(fields)
        return clone

    def using(self, target: Any) -> Self:
        """Run on another database (by name or object) or in a given session."""
        clone = self._clone()
        clone._using = target
        return clone

    def all(self) -> Self:
        return self._clone()

    @overload
    def __getitem__(self, key: int) -> _Single[M]: ...

    @overload
    def __getitem__(self, key: slice) -> Self: ...

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            if (key.start is not None and key.start < 0) or (key.stop is not None and key.stop < 0):
                raise ValueError("negative slicing is not supported: order_by() in reverse instead")
            if key.step not in (None, 1):
                raise ValueError("slicing with a step is not supported")
            clone = self._clone()
            base = self._offset or 0
            start = base + (key.start or 0)
            if key.stop is not None:
                stop = base + key.stop
                if self._limit is not None:
                    stop = min(stop, base + self._limit)
                clone._limit = max(stop - start, 0)
            elif self._limit is not None:
                clone._limit = max(base + self._limit - start, 0)
            clone._offset = start or None
            return clone
        if isinstance(key, int):
            if key < 0:
                raise ValueError("negative indexing is not supported: order_by() in reverse instead")
            return _Single(self[key : key + 1])
        raise TypeError(f"QuerySet indices must be int or slice, not {type(key).__name__}")

    # -- relations (issue 6): eager loading -------------------------------------------
    # Owned by the relations work (sqlmodelx/relations.py, prefetch.py): the options live
    # in one frozen EagerOptions; `statement` appends the select_related joins and the
    # session's fetch_objects hands the rows to prefetch.load_eager.

    _eager: EagerOptions = NO_EAGER
    _joins: tuple[JoinedRelation, ...] = ()

    def select_related(self, *paths: str | None) -> Self:
        """Load to-one relations in the same query, by JOIN: ``select_related("author__publisher")``.

        No names: every non-null foreign key, recursively. ``select_related(None)`` clears.
        """
        if paths == (None,):
            return self._with_eager(dataclasses.replace(self._eager, select_related=()))
        names = tuple(p for p in paths if p is not None) or default_select_related(self._plan)
        check_select_related(self._plan, names)
        merged = tuple(dict.fromkeys((*self._eager.select_related, *names)))
        return self._with_eager(dataclasses.replace(self._eager, select_related=merged))

    def prefetch_related(self, *lookups: Any) -> Self:
        """Load relations after the query with one more query each: ``prefetch_related("books")``.

        Takes relation paths and ``sx.Prefetch(path, queryset=, to_attr=)``;
        ``prefetch_related(None)`` clears.
        """
        if lookups == (None,):
            return self._with_eager(dataclasses.replace(self._eager, prefetch=()))
        added = tuple(as_prefetch(item) for item in lookups)
        return self._with_eager(dataclasses.replace(self._eager, prefetch=(*self._eager.prefetch, *added)))

    def _with_eager(self, eager: EagerOptions) -> Self:
        clone = self._clone()
        clone._eager = eager
        return clone

    # -- compilation ---------------------------------------------------------------------

    @property
    def statement(self) -> sa.Select[Any]:
        """The Core ``SELECT`` this QuerySet runs (built once, without a connection)."""
        if self._statement is None:
            stmt = self._build_select(self._plan.table.columns)
            # relations (issue 6): select_related joins and their columns come last
            stmt, self._joins = self._eager.extend(self._plan, stmt)
            self._statement = stmt
        return self._statement

    def _where_clause(self, resolver: _Resolver) -> list[ColumnElement[bool]]:
        return [q.resolve(resolver) if isinstance(q, Q) else q for q in self._where]

    def _build_select(self, columns: Iterable[Any]) -> sa.Select[Any]:
        resolver = _Resolver(self)
        stmt = sa.select(*columns)
        for clause in self._where_clause(resolver):
            stmt = stmt.where(clause)
        if self._order:
            stmt = stmt.order_by(*self._order_clauses(resolver))
        if self._limit is not None:
            stmt = stmt.limit(self._limit)
        if self._offset is not None:
            stmt = stmt.offset(self._offset)
        return stmt

    def _order_clauses(self, resolver: _Resolver) -> list[Any]:
        clauses = []
        for item in self._order:
            if isinstance(item, str):
                descending = item.startswith("-")
                column = resolver.column(item.lstrip("-"), "order_by")
                clauses.append(column.desc() if descending else column.asc())
            elif isinstance(item, OrderBy):
                expr = item.expression
                column = expr.resolve(resolver) if isinstance(expr, Expression) else expr
                clause = column.desc() if item.descending else column.asc()
                if item.nulls_first:
                    clause = clause.nulls_first()
                elif item.nulls_last:
                    clause = clause.nulls_last()
                clauses.append(clause)
            elif isinstance(item, Expression):
                clauses.append(item.resolve(resolver))
            else:
                clauses.append(item)
        return clauses

    def _as_subquery(self) -> sa.Select[Any]:
        pk = self._plan.pk_names
        if len(pk) != 1:
            raise FieldError(f"{self.model.__name__} has a composite key: cannot use it in __in")
        return self._build_select([self._plan.fields[pk[0]].column])

    def sql(self) -> str:
        """The statement compiled for the database in use, values shown inline (safely)."""
        runner = _context.runner_for(self._using)
        return str(
            self.statement.compile(dialect=runner.dialect, compile_kwargs={"literal_binds": True})
        )

    # -- running -------------------------------------------------------------------------

    def _runner(self) -> Any:
        return _context.runner_for(self._using)

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self._fetch().__await__()

    async def _fetch(self) -> list[M]:
        return await self._runner().fetch_objects(self)  # type: ignore[no-any-return]

    async def __aiter__(self) -> AsyncIterator[M]:
        for obj in await self._fetch():
            yield obj

    async def get(self, *args: Any, **kwargs: Any) -> M:
        """The one object matching; ``DoesNotExist`` or ``MultipleObjectsReturned`` otherwise."""
        qs = self.filter(*args, **kwargs) if (args or kwargs) else self
        qs = qs._clone()
        qs._limit = 2 if qs._limit is None else min(qs._limit, 2)
        found = await qs._fetch()
        if not found:
            raise self.model.DoesNotExist(
                f"{self.model.__name__} matching query does not exist ({_describe(args, kwargs)})"
            )
        if len(found) > 1:
            raise self.model.MultipleObjectsReturned(
                f"get() returned more than one {self.model.__name__} ({_describe(args, kwargs)})"
            )
        return found[0]

    async def first(self) -> M | None:
        """The first object by the ordering (by primary key when unordered), or None."""
        qs = self if self._order else self.order_by(*self._plan.pk_names)
        found = await qs[:1]._fetch()
        return found[0] if found else None

    async def count(self) -> int:
        """``SELECT count(*)`` over this query (its slice included)."""
        inner = self._build_select([sa.literal_column("1").label("one")]).subquery()
        stmt = sa.select(sa.func.count()).select_from(inner)
        return int(await self._runner().fetch_scalar(stmt))

    async def exists(self) -> bool:
        stmt = sa.select(sa.exists(self._clone()[:1]._build_select([sa.literal(1)])))
        return bool(await self._runner().fetch_scalar(stmt))

    async def create(self, **kwargs: Any) -> M:
        """Construct, validate and INSERT one object; returns it with its primary key set."""
        obj = self.model(**kwargs)
        await self._runner().insert_objects([obj])
        return obj


class _Single(Generic[M]):
    """``qs[3]``: awaitable, giving one object or raising ``IndexError``."""

    def __init__(self, qs: QuerySet[M]) -> None:
        self._qs = qs

    def __await__(self) -> Generator[Any, None, M]:
        return self._one().__await__()

    async def _one(self) -> M:
        found = await self._qs._fetch()
        if not found:
            raise IndexError(f"{self._qs.model.__name__} query index out of range")
        return found[0]


def _describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts) or "no conditions"


_model.set_queryset_factory(QuerySet)
