"""QuerySet: an immutable, lazy description of a query, compiled onto Core (L3).

Chaining copies the QuerySet (SQLAlchemy's generative pattern, in one ``_clone()``) and
never runs SQL. ``qs.statement`` is the Core statement, built without a connection by
``_compile.py``. Awaiting or iterating hands it to the *runner* (the current session, or
a database in autocommit), which executes it and hydrates the rows. See ``docs/queries.md``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from . import _context, registry
from . import model as _model
from ._compile import LOOKUP_SEP, Compiler, field_error, has_aggregate
from ._shape import aggregate_operation, plain_keys, statement_for
from .bulk import OnConflict, check_fields
from .deletion import check_protected, protects
from .eager import (
    NO_EAGER,
    EagerOptions,
    JoinedRelation,
    as_prefetch,
    check_select_related,
    default_select_related,
)
from .exc import FieldError, IntegrityError, NotSupportedError, ValidationError
from .expressions import Expression, OrderBy, Q

if TYPE_CHECKING:
    from typing import Self

    from .model import Model, ModelPlan

__all__ = ["QuerySet", "field_error"]

M = TypeVar("M", bound="Model")

#: get() reads at most this many rows to say how many matched (Django's MAX_GET_RESULTS).
MAX_GET_RESULTS = 21
#: in_bulk() asks for at most this many keys per statement (under every bind-parameter limit).
IN_BULK_CHUNK = 10_000


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (type(batch_size) is not int or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _not_sliced(method: _Method) -> _Method:
    """Django's rule: a sliced query cannot be filtered, reordered or made distinct."""

    @functools.wraps(method)
    def guarded(self: QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        if self._limit is not None or self._offset:
            raise TypeError(f"cannot call {method.__name__}() once a slice has been taken")
        if self._combinator is not None:
            raise NotSupportedError(
                f"{method.__name__}() is not supported after {self._combinator[0]}(); "
                "a combined query takes order_by(), slicing, values() and the terminals"
            )
        return method(self, *args, **kwargs)

    return guarded  # type: ignore[return-value]


class QuerySet(Generic[M]):
    """A lazy, immutable query over one model. See ``docs/queries.md``.

    State lives in tuples, frozensets and dicts that are replaced, never changed in place,
    so ``_clone()`` (one ``__dict__`` copy) is the only way a new QuerySet is made.
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._plan: ModelPlan = model.__sx_plan__
        #: One entry per filter()/exclude() call: a Q (or a Core/expression condition).
        self._where: tuple[Any, ...] = ()
        self._order: tuple[Any, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None
        self._using: Any = None
        #: name -> expression, in order; names in ``_hidden`` come from alias() (not selected).
        self._annotations: dict[str, Any] = {}
        self._hidden: frozenset[str] = frozenset()
        #: values()/values_list() names (``()``: every field), and the row shape wanted.
        self._values: tuple[str, ...] | None = None
        self._result = "objects"
        #: The values() names an aggregate annotation groups by (None: not grouped).
        self._group_by: tuple[str, ...] | None = None
        self._only: frozenset[str] | None = None
        self._defer: frozenset[str] = frozenset()
        self._distinct = False
        self._distinct_fields: tuple[str, ...] = ()
        self._empty = False
        #: ("union" | "intersection" | "difference", member querysets, all)
        self._combinator: tuple[str, tuple[QuerySet[Any], ...], bool] | None = None
        self._for_update: dict[str, Any] | None = None
        self._statement: Any = None

    def __repr__(self) -> str:
        return f"<QuerySet[{self.model.__name__}] (lazy: await it, or see .sql())>"

    def __bool__(self) -> bool:
        raise TypeError("a QuerySet is lazy: use `await qs.exists()` instead of `if qs:`")

    def __len__(self) -> int:
        raise TypeError("a QuerySet is lazy: use `await qs.count()` or `len(await qs)`")

    def __iter__(self) -> Any:
        raise TypeError("a QuerySet runs asynchronously: use `async for obj in qs` or `await qs`")

    # -- generative ----------------------------------------------------------------------

    def _clone(self) -> Self:
        """A copy sharing every (immutable) piece of state; the one way chaining copies."""
        clone = object.__new__(type(self))
        state = self.__dict__.copy()
        state["_statement"] = None
        state.pop("_joined", None)
        object.__setattr__(clone, "__dict__", state)
        return clone

    def _check(self) -> Self:
        """Resolve every name now, so a bad one fails at the call that brought it."""
        keys = plain_keys(self, self._where[-1]) if self._where else None
        checked = self._plan.__dict__.setdefault("_sx_checked", set())
        if keys is not None and checked.issuperset(keys):
            return self  # these names resolved before, and nothing else here needs resolving
        compiler = Compiler(self)
        for entry in self._where[-1:]:
            compiler.tree(entry)
        if keys is not None:
            checked.update(keys)
        return self

    def all(self) -> Self:
        return self._clone()

    def none(self) -> Self:
        """A QuerySet that matches nothing and never runs SQL."""
        clone = self._clone()
        clone._empty = True
        return clone

    @_not_sliced
    def filter(self, *args: Any, **kwargs: Any) -> Self:
        """Rows matching every condition (AND). Keys are Django lookups; args are Q or Core."""
        return self._add_condition(Q(*args, **kwargs))

    @_not_sliced
    def exclude(self, *args: Any, **kwargs: Any) -> Self:
        """Rows NOT matching the conditions taken together (NULLs as Django: see docs)."""
        return self._add_condition(~Q(*args, **kwargs))

    def _add_condition(self, q: Q) -> Self:
        clone = self._clone()
        if q.children:
            clone._where = (*self._where, q)
        return clone._check()

    def order_by(self, *fields: Any) -> Self:
        """Replace the ordering: ``"name"``, ``"-name"``, ``"?"``, ``F("x").desc(nulls_last=True)``, Core."""
        if self._limit is not None or self._offset:
            raise TypeError("cannot call order_by() once a slice has been taken")
        clone = self._clone()
        clone._order = tuple(fields)
        compiler = Compiler(clone)
        for item in clone._order:
            if isinstance(item, str) and item != "?" and self._combinator is not None:
                compiler._compound_key(item.removeprefix("-"))
            elif isinstance(item, str) and item != "?":
                compiler.parse(item.removeprefix("-"), "order_by")
            elif not isinstance(item, (str, OrderBy, Expression)) and not hasattr(item, "__clause_element__") and not isinstance(item, sa.ColumnElement):
                raise TypeError(f"order_by() takes names, F()/OrderBy expressions or Core, not {type(item).__name__}")
        return clone

    def reverse(self) -> Self:
        """The same query in the opposite order (no effect on an unordered query, as Django)."""
        if self._limit is not None or self._offset:
            raise TypeError("cannot reverse a query once a slice has been taken")
        clone = self._clone()
        clone._order = tuple(_reversed(item) for item in self._order)
        return clone

    @_not_sliced
    def distinct(self, *fields: str) -> Self:
        """SELECT DISTINCT; ``distinct("name")`` is PostgreSQL's DISTINCT ON (elsewhere NotSupportedError)."""
        clone = self._clone()
        clone._distinct = True
        clone._distinct_fields = tuple(fields)
        for name in fields:
            Compiler(clone).parse(name, "distinct")
        return clone

    def only(self, *fields: str) -> Self:
        """Load only these fields (and the primary key); reading another raises NotLoadedError."""
        clone = self._clone()
        clone._only = frozenset(check_fields(self._plan, fields, "only"))
        clone._defer = frozenset()
        return clone

    def defer(self, *fields: str) -> Self:
        """Load every field but these; ``defer(None)`` clears."""
        clone = self._clone()
        if fields == (None,):  # type: ignore[comparison-overlap]
            clone._defer = frozenset()
            return clone
        clone._defer = self._defer | frozenset(check_fields(self._plan, fields, "defer"))
        return clone

    def annotate(self, *args: Any, **kwargs: Any) -> Self:
        """Add computed values: ``annotate(n=Count("books"), upper=F("x") + 1)``.

        On objects they become attributes; after ``values(...)`` an aggregate groups by
        those values (GROUP BY). An aggregate on objects counts each object's own rows.
        """
        return self._annotate(args, kwargs, select=True)

    def alias(self, *args: Any, **kwargs: Any) -> Self:
        """Like annotate(), but usable only in filter/order_by/other expressions, not selected."""
        return self._annotate(args, kwargs, select=False)

    def _annotate(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, select: bool) -> Self:
        if self._combinator is not None:
            raise NotSupportedError(f"annotate() is not supported after {self._combinator[0]}()")
        named = _named(args, kwargs, "annotate")
        clone = self._clone()
        annotations = dict(self._annotations)
        hidden = set(self._hidden)
        grouping = False
        for name, expression in named.items():
            self._check_annotation_name(name, annotations)
            if isinstance(expression, str):
                raise TypeError(f"annotate({name}=...) takes an expression; for a field use F({expression!r})")
            annotations[name] = expression
            if select:
                hidden.discard(name)
            else:
                hidden.add(name)
            if has_aggregate(expression, annotations):
                grouping = True
        clone._annotations = annotations
        clone._hidden = frozenset(hidden)
        if self._values is not None:
            if grouping and self._group_by is None:
                clone._group_by = self._values_names()
            if select and self._values:
                clone._values = (*self._values, *(n for n in named if n not in self._values))
        compiler = Compiler(clone)
        for expression in named.values():
            if isinstance(expression, Expression):
                for ref in expression.refs():
                    compiler.parse(ref, "annotate")
        return clone

    def _check_annotation_name(self, name: str, annotations: dict[str, Any]) -> None:
        if not name.isidentifier() or LOOKUP_SEP in name:
            raise ValueError(f"annotation name {name!r} must be an identifier without '__'")
        plan = self._plan
        if name in plan.fields or name in plan.relations or name in plan.related or name == "pk":
            raise ValueError(f"the annotation {name!r} conflicts with a field of {self.model.__name__}")

    def values(self, *fields: str, **expressions: Any) -> Self:
        """Rows as dicts: ``values("name", "author__name", n=Count("books"))``."""
        return self._values_query(fields, expressions, "dicts")

    def values_list(self, *fields: str, flat: bool = False, named: bool = False) -> Self:
        """Rows as tuples (``flat=True``: the single value, ``named=True``: namedtuples)."""
        if flat and named:
            raise TypeError("values_list() takes flat= or named=, not both")
        if flat and len(fields) != 1:
            raise TypeError("values_list(flat=True) takes exactly one field")
        return self._values_query(fields, {}, "flat" if flat else "named" if named else "tuples")

    def _values_query(self, fields: tuple[str, ...], expressions: dict[str, Any], result: str) -> Self:
        qs = self.annotate(**expressions) if expressions else self
        if qs._combinator is not None:
            clone = qs._clone()
            operation, members, keep_all = qs._combinator
            clone._combinator = (operation, tuple(m._values_query(fields, {}, result) for m in members), keep_all)
            clone._values = tuple(fields) + tuple(expressions)
            clone._result = result
            return clone
        clone = qs._clone()
        clone._values = tuple(fields) + tuple(n for n in expressions if n not in fields)
        clone._result = result
        compiler = Compiler(clone)
        for name in clone._values:
            if name not in clone._annotations:
                compiler.column(name, "values")
        return clone

    def using(self, target: Any) -> Self:
        """Run on another database (by name or object) or in a given session."""
        clone = self._clone()
        clone._using = target
        return clone

    @_not_sliced
    def select_for_update(
        self, *, nowait: bool = False, skip_locked: bool = False, of: tuple[str, ...] = (), key_share: bool = False
    ) -> Self:
        """Lock the rows read (``FOR UPDATE``) until the transaction ends; not on SQLite."""
        if nowait and skip_locked:
            raise ValueError("select_for_update() takes nowait= or skip_locked=, not both")
        clone = self._clone()
        clone._for_update = {"nowait": nowait, "skip_locked": skip_locked, "of": tuple(of), "key_share": key_share}
        return clone

    # -- combining ---------------------------------------------------------------------

    def union(self, *others: QuerySet[Any], all: bool = False) -> Self:  # noqa: A002 - Django's name
        return self._combine("union", others, all)

    def intersection(self, *others: QuerySet[Any], all: bool = False) -> Self:  # noqa: A002
        return self._combine("intersection", others, all)

    def difference(self, *others: QuerySet[Any], all: bool = False) -> Self:  # noqa: A002
        return self._combine("difference", others, all)

    def _combine(self, operation: str, others: tuple[QuerySet[Any], ...], keep_all: bool) -> Self:
        for other in others:
            if not isinstance(other, QuerySet):
                raise TypeError(f"{operation}() takes QuerySets, not {type(other).__name__}")
        members: list[QuerySet[Any]] = []
        candidates: list[QuerySet[Any]] = [self, *others]
        for member in candidates:
            combined = member._combinator
            flat = combined is not None and combined[0] == operation and combined[2] == keep_all
            if combined is not None and flat and not member._order and member._limit is None and not member._offset:
                members.extend(combined[1])
            else:
                members.append(member)
        clone = self._clone()
        clone._combinator = (operation, tuple(members), keep_all)
        clone._where = ()
        clone._order = ()
        clone._limit = clone._offset = None
        clone._distinct = False
        clone._distinct_fields = ()
        clone._for_update = None
        return clone

    # -- slicing -------------------------------------------------------------------------

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
        if isinstance(key, int) and not isinstance(key, bool):
            if key < 0:
                raise ValueError("negative indexing is not supported: order_by() in reverse, then [0]")
            return _Single(self[key : key + 1])
        raise TypeError(f"QuerySet indices must be int or slice, not {type(key).__name__}")

    # -- relations (issue 6): eager loading -------------------------------------------
    # Owned by the relations work (sqlmodelx/relations.py, prefetch.py): the options live
    # in one frozen EagerOptions; `statement` appends the select_related joins and the
    # session's fetch_objects hands the rows to prefetch.load_eager.

    _eager: EagerOptions = NO_EAGER

    @property
    def _joins(self) -> tuple[JoinedRelation, ...]:
        """The select_related joins: those a statement template handed over (``_shape.py``),
        else those of ``statement`` (built on first use)."""
        joined: tuple[JoinedRelation, ...] | None = self.__dict__.get("_joined")
        if joined is None:
            self.statement  # noqa: B018 - builds it
            joined = self.__dict__.get("_joined", ())
        return joined

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
    def statement(self) -> Any:
        """The Core statement this QuerySet runs (built once, without a connection)."""
        if self._statement is None:
            stmt = Compiler(self).select()
            joins: tuple[JoinedRelation, ...] = ()
            if self._values is None and self._combinator is None:
                # relations (issue 6): select_related joins and their columns come last
                stmt, joins = self._eager.extend(self._plan, stmt)
            self.__dict__["_joined"] = joins
            self._statement = stmt
        return self._statement

    def _executable(self, dialect: Any) -> tuple[Any, dict[str, Any] | None]:
        """``(statement, parameters)`` a runner executes for the rows: a cached template of
        this query's shape and its values, or ``statement`` and None (see ``_shape.py``)."""
        return statement_for(self, dialect, "rows", _rows_statement)

    @property
    def _load_fields(self) -> tuple[str, ...]:
        """The model fields an object query selects, first in each row, in this order."""
        if self._combinator is not None:
            return self._combinator[1][0]._load_fields
        plan = self._plan
        if self._only is None and not self._defer:
            return plan.field_names
        keep = set(plan.pk_names)
        if self._only is not None:
            keep |= self._only
            return tuple(n for n in plan.fields if n in keep)
        return tuple(n for n in plan.fields if n in keep or n not in self._defer)

    def _selected_annotations(self) -> tuple[str, ...]:
        if self._combinator is not None:
            return self._combinator[1][0]._selected_annotations()
        return tuple(n for n in self._annotations if n not in self._hidden)

    def _values_names(self) -> tuple[str, ...]:
        if self._values:
            return self._values
        return (*self._plan.field_names, *self._selected_annotations())

    def _ordering(self) -> tuple[Any, ...]:
        return self._order

    def _attach_extras(self, objects: list[Any], rows: Any) -> list[Any]:
        """Put the annotations of each row on its object (runners call this after hydrating)."""
        if not self._annotations and self._combinator is None:
            return objects
        names = self._selected_annotations()
        if names:
            start = len(self._load_fields)
            for obj, row in zip(objects, rows, strict=False):
                if obj is not None:
                    obj.__dict__.update(zip(names, row[start : start + len(names)], strict=False))
        return objects

    def _rows(self, rows: Iterable[Any]) -> list[Any]:
        """values()/values_list() rows in the shape asked for."""
        if self._result == "flat":
            return [row[0] for row in rows]
        if self._result == "tuples":
            width = len(self._values_names())
            return [tuple(row[:width]) for row in rows]
        names = [str(n) for n in self._values_names()]
        if self._result == "named":
            row_type = namedtuple("Row", names, rename=True)  # type: ignore[misc]  # noqa: PYI024
            return [row_type(*row[: len(names)]) for row in rows]
        return [dict(zip(names, row, strict=False)) for row in rows]

    def sql(self, dialect: Any = None) -> str:
        """The statement compiled for the database in use (or ``dialect``), values shown inline.

        Values are rendered by the dialect's own literal renderer; where a value has no
        literal form the SQL is shown with placeholders and the parameters after it.
        """
        if dialect is None:
            dialect = _context.runner_for(self._using).dialect
        elif isinstance(dialect, str):
            dialect = _dialect_named(dialect)
        self._check_backend(dialect)
        statement = self.statement
        try:
            return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except (sa.exc.CompileError, NotImplementedError, TypeError, ValueError):
            compiled = statement.compile(dialect=dialect)
            return f"{compiled}\n-- parameters: {compiled.params!r}"

    def _check_backend(self, dialect: Any) -> None:
        name = dialect.name
        if self._distinct_fields and name != "postgresql":
            raise NotSupportedError(
                f"distinct(*fields) is PostgreSQL's DISTINCT ON; {name} has no such clause "
                "(use distinct() or a subquery)"
            )
        if self._for_update is not None:
            if name == "sqlite":
                raise NotSupportedError("sqlite has no SELECT ... FOR UPDATE (it locks the whole database on write)")
            if self._for_update.get("of") and name in ("mysql", "mariadb"):
                raise NotSupportedError(f"{name} has no FOR UPDATE OF: leave of= out")
            if self._for_update.get("key_share") and name != "postgresql":
                raise NotSupportedError(f"{name} has no FOR KEY SHARE")

    # -- running -------------------------------------------------------------------------

    def _runner(self) -> Any:
        if not registry.is_configured():  # relations (issue 6): an undefined target fails here
            registry.configure()
        runner = _context.runner_for(self._using)
        self._check_backend(runner.dialect)
        return runner

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self._fetch().__await__()

    async def _fetch(self) -> list[Any]:
        if self._empty:
            return []
        runner = self._runner()
        if self._values is not None:
            return self._rows(await runner.fetch_all(self.statement))
        return await runner.fetch_objects(self)  # type: ignore[no-any-return]

    async def __aiter__(self) -> AsyncIterator[M]:
        for obj in await self._fetch():
            yield obj

    async def iterator(self, chunk_size: int = 2000) -> AsyncIterator[Any]:
        """Stream the rows through a server-side cursor, ``chunk_size`` at a time.

        Memory stays bounded by one chunk whatever the number of rows (see docs for the
        measured figure). Objects come through the session's identity map inside a
        session, and detached outside one. Leaving the loop early: wrap it in
        ``contextlib.aclosing(qs.iterator())`` so the cursor closes at once.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be a positive number of rows")
        if self._empty:
            return
        runner = self._runner()
        if self._values is not None:
            async for rows in runner.stream_rows(self.statement, chunk_size):
                for item in self._rows(rows):
                    yield item
            return
        async for objects in runner.stream_objects(self, chunk_size):
            for obj in objects:
                yield obj

    async def get(self, *args: Any, **kwargs: Any) -> M:
        """The one object matching; ``DoesNotExist`` or ``MultipleObjectsReturned`` otherwise."""
        qs = self.filter(*args, **kwargs) if (args or kwargs) else self._clone()  # a fresh copy either way
        if qs._limit is None and not qs._offset:
            qs._order = ()
        if qs._limit is None or qs._limit > MAX_GET_RESULTS:
            qs._limit = MAX_GET_RESULTS if qs._limit is None else qs._limit
        found = await qs._fetch()
        if not found:
            raise self.model.DoesNotExist(
                f"{self.model.__name__} matching query does not exist ({_describe(args, kwargs)})"
            )
        if len(found) > 1:
            count = f"{len(found)}" if len(found) < MAX_GET_RESULTS else f"more than {MAX_GET_RESULTS - 1}"
            raise self.model.MultipleObjectsReturned(
                f"get() returned more than one {self.model.__name__}: it returned {count} "
                f"({_describe(args, kwargs)})"
            )
        return found[0]  # type: ignore[no-any-return]

    def _pk_order(self, descending: bool = False) -> tuple[str, ...]:
        return tuple(("-" if descending else "") + n for n in self._plan.pk_names)

    async def first(self) -> M | None:
        """The first object by the ordering (by primary key when unordered), or None."""
        qs = self if self._order else self._ordered(self._pk_order())
        found = await qs[:1]._fetch()
        return found[0] if found else None

    async def last(self) -> M | None:
        """The last object by the ordering (by primary key when unordered), or None."""
        qs = self.reverse() if self._order else self._ordered(self._pk_order(descending=True))
        found = await qs[:1]._fetch()
        return found[0] if found else None

    def _ordered(self, fields: tuple[str, ...]) -> Self:
        clone = self._clone()
        clone._order = fields
        return clone

    async def earliest(self, *fields: str) -> M:
        """The first object ordered by ``fields``; ``DoesNotExist`` when there is none."""
        return await self._edge(fields, "earliest", descending=False)

    async def latest(self, *fields: str) -> M:
        """The last object ordered by ``fields``; ``DoesNotExist`` when there is none."""
        return await self._edge(fields, "latest", descending=True)

    async def _edge(self, fields: tuple[str, ...], name: str, *, descending: bool) -> M:
        if not fields:
            raise ValueError(f"{name}() needs the fields to order by: {name}('created')")
        if self._limit is not None or self._offset:
            raise TypeError(f"cannot call {name}() once a slice has been taken")
        order = tuple(_flip(f) for f in fields) if descending else fields
        found = await self.order_by(*order)[:1]._fetch()
        if not found:
            raise self.model.DoesNotExist(f"{self.model.__name__} matching query does not exist ({name})")
        return found[0]  # type: ignore[no-any-return]

    async def count(self) -> int:
        """The number of rows (``SELECT count(*)``, over the slice or DISTINCT when there is one)."""
        if self._empty:
            return 0
        runner = self._runner()
        return int(await runner.fetch_scalar(*statement_for(self, runner.dialect, "count", _count_statement)))

    async def exists(self) -> bool:
        if self._empty:
            return False
        runner = self._runner()
        return bool(await runner.fetch_scalar(*statement_for(self, runner.dialect, "exists", _exists_statement)))

    async def contains(self, obj: Any) -> bool:
        """Whether ``obj`` is one of the rows of this query (one EXISTS query)."""
        if self._values is not None:
            raise TypeError("contains() is not available after values()/values_list()")
        if not isinstance(obj, self.model):
            raise TypeError(f"contains() takes a {self.model.__name__}, not {type(obj).__name__}")
        if obj.pk is None or (isinstance(obj.pk, tuple) and None in obj.pk):
            raise ValueError("contains() needs a saved object (it has no primary key)")
        if self._combinator is not None or self._limit is not None or self._offset:
            inner = self.values_list("pk", flat=True) if self._combinator is None else self
            return bool(await self.model.objects.using(self._using).filter(pk__in=inner, pk=obj.pk).exists())
        keys = dict(zip(self._plan.pk_names, obj.pk if isinstance(obj.pk, tuple) else (obj.pk,), strict=True))
        return bool(await self.filter(**keys).exists())

    async def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Aggregates over the whole query: ``aggregate(n=Count("id"), avg=Avg("pages"))``."""
        named = _named(args, kwargs, "aggregate")
        if not named:
            return {}
        for name, expression in named.items():
            if not has_aggregate(expression, self._annotations):
                raise TypeError(f"aggregate({name}=...) takes an aggregate expression, not {expression!r}")
            if not name.isidentifier():
                raise ValueError(f"aggregate name {name!r} must be an identifier")
        if self._empty:
            return {name: _empty_aggregate(expression) for name, expression in named.items()}
        runner = self._runner()
        operation = aggregate_operation(named)
        build = functools.partial(_aggregate_statement, named)
        if operation is None:
            rows = await runner.fetch_all(build(self))
        else:
            rows = await runner.fetch_all(*statement_for(self, runner.dialect, operation, build))
        return dict(zip(named, rows[0], strict=True))

    async def in_bulk(self, id_list: Iterable[Any] | None = None, *, field_name: str = "pk") -> dict[Any, M]:
        """``{key: object}`` for the given keys (all rows when None); the field must be unique."""
        plan = self._plan
        name = plan.pk_names[0] if field_name == "pk" and len(plan.pk_names) == 1 else field_name
        spec = plan.fields.get(name)
        if spec is None:
            raise field_error(plan, field_name, "in_bulk")
        if not (spec.info.unique or (name in plan.pk_names and len(plan.pk_names) == 1)):
            raise ValueError(f"in_bulk()'s field_name must be a unique field; {self.model.__name__}.{name} is not")
        if self._limit is not None or self._offset:
            raise TypeError("cannot use in_bulk() once a slice has been taken")
        if id_list is None:
            return {obj.__dict__[name]: obj for obj in await self._fetch()}
        keys = list(dict.fromkeys(id_list))
        found: dict[Any, M] = {}
        for start in range(0, len(keys), IN_BULK_CHUNK):
            chunk = keys[start : start + IN_BULK_CHUNK]
            for obj in await self.filter(**{f"{name}__in": chunk})._fetch():
                found[obj.__dict__[name]] = obj
        return found

    async def create(self, **kwargs: Any) -> M:
        """Construct, validate and INSERT one object; returns it with its primary key set."""
        obj = self.model(**kwargs)
        await _context.runner_for(self._using).insert_objects([obj])
        return obj

    async def bulk_create(
        self,
        objs: Iterable[M],
        batch_size: int | None = None,
        *,
        on_conflict: OnConflict | None = None,
        unique_fields: Sequence[str] = (),
        update_fields: Sequence[str] | None = None,
    ) -> list[M]:
        """INSERT new objects in as few statements as the backend allows; returns them.

        Every object is validated first (a ``ValidationError`` inserts nothing). Rows that
        set the same fields go in one executemany (SQLAlchemy's "insertmanyvalues": multi-row
        VALUES, split by the backend's parameter limit), with the primary keys and other
        database-assigned values returned and set on the objects on every backend. Inside a
        session the objects join it, as ``add()`` + ``flush()`` would make them; outside
        one, every batch is written in one transaction. ``batch_size`` flushes that many
        objects at a time.

        ``on_conflict="ignore"`` keeps a row that already has the same unique key
        (``unique_fields``, the conflict target on PostgreSQL and SQLite; MySQL uses every
        unique key); ``on_conflict="update"`` overwrites its ``update_fields`` (default:
        every field the objects set, except the keys). Each batch is then one upsert
        statement in the backend's own form, and the objects stay new (transient): the
        database may have kept another row in their place.
        """
        objects = list(objs)
        if on_conflict is not None:
            return await self._upsert(objects, batch_size, on_conflict, unique_fields, update_fields)
        _check_batch_size(batch_size)
        for obj in objects:
            if not isinstance(obj, self.model):
                raise TypeError(f"bulk_create() takes {self.model.__name__} objects, not {type(obj).__name__}")
            if "_sx_cols" in obj.__dict__:
                raise ValueError(f"bulk_create() takes new objects; {obj!r} is already saved (use save())")
        if not objects:
            return objects
        runner = _context.runner_for(self._using)
        if getattr(runner, "_sx_is_database", False):
            async with runner.session() as session:
                await _insert_batches(session, objects, batch_size)
        else:
            await _insert_batches(runner, objects, batch_size)
        return objects

    async def upsert(
        self,
        objs: Iterable[M],
        *,
        unique_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> list[M]:
        """INSERT the objects, updating the rows whose ``unique_fields`` already exist.

        The same as ``bulk_create(objs, on_conflict="update", ...)``.
        """
        return await self._upsert(list(objs), batch_size, "update", unique_fields, update_fields)

    async def _upsert(
        self,
        objects: list[M],
        batch_size: int | None,
        on_conflict: str,
        unique_fields: Sequence[str],
        update_fields: Sequence[str] | None,
    ) -> list[M]:
        if on_conflict not in ("ignore", "update"):
            raise ValueError(f"on_conflict must be 'ignore' or 'update', not {on_conflict!r}")
        _check_batch_size(batch_size)
        for obj in objects:
            if not isinstance(obj, self.model):
                raise TypeError(f"bulk_create() takes {self.model.__name__} objects, not {type(obj).__name__}")
        if not objects:
            return objects
        plan = self._plan
        unique = check_fields(plan, unique_fields, "unique_fields")
        if on_conflict == "update" and not unique:
            unique = plan.pk_names
        if update_fields is None:
            given = [n for n in plan.fields if n in objects[0].__dict__]
            skip = {*unique, *plan.pk_names, plan.version_field}
            update = tuple(n for n in given if n not in skip)
        else:
            update = check_fields(plan, update_fields, "update_fields")
        await _context.runner_for(self._using).bulk_insert(
            objects,
            batch_size=batch_size,
            on_conflict=on_conflict,
            unique_fields=unique,
            update_fields=update,
        )
        return objects

    async def bulk_update(self, objs: Iterable[M], fields: Sequence[str], batch_size: int | None = None) -> int:
        """UPDATE ``fields`` of saved objects to their current values; returns rows matched.

        One ``UPDATE .. SET f = CASE pk WHEN .. END WHERE pk IN (..)`` per batch (Django's
        form), values bound with each column's type. The objects then count those fields as
        saved, so a later flush does not write them again; a rollback reverts them.
        """
        objects = list(objs)
        _check_batch_size(batch_size)
        plan = self._plan
        names = check_fields(plan, fields, "bulk_update")
        if not names:
            raise ValueError("bulk_update() needs at least one field")
        if any(n in plan.pk_names for n in names):
            raise ValueError("bulk_update() cannot change a primary key field")
        if plan.version_field in names:
            raise ValueError(f"bulk_update() bumps {plan.version_field} itself; leave it out of fields")
        for obj in objects:
            if not isinstance(obj, self.model):
                raise TypeError(f"bulk_update() takes {self.model.__name__} objects, not {type(obj).__name__}")
            if any(obj.__dict__.get(n) is None for n in plan.pk_names):
                raise ValueError(f"bulk_update() takes saved objects; {obj!r} was never saved")
        if not objects:
            return 0
        count: int = await _context.runner_for(self._using).bulk_update_objects(objects, names, batch_size)
        return count

    async def get_or_create(self, defaults: dict[str, Any] | None = None, **kwargs: Any) -> tuple[M, bool]:
        """``(object, created)``: the one matching ``kwargs``, else a new one with ``defaults``.

        The INSERT runs in a savepoint inside a session, so losing a race to a concurrent
        insert (a unique constraint) reads the winner instead of failing. Both reads go to
        the primary: a replica that lags would miss the row it is about to conflict with.
        """
        _context.runner_for(self._using).use_primary()
        try:
            return await self.get(**kwargs), False
        except self.model.DoesNotExist:
            pass
        params = self._create_params(kwargs, defaults)
        try:
            return await self._create_guarded(params), True
        except IntegrityError as conflict:
            try:
                return await self.get(**kwargs), False
            except self.model.DoesNotExist:
                raise conflict from None

    async def _create_guarded(self, params: dict[str, Any]) -> M:
        runner = _context.runner_for(self._using)
        nested = getattr(runner, "begin_nested", None)
        if nested is None:
            return await self.create(**params)
        async with nested():
            return await self.create(**params)

    def _create_params(self, lookups: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
        params = {k: v for k, v in lookups.items() if LOOKUP_SEP not in k}
        for key, value in (defaults or {}).items():
            params[key] = value() if callable(value) else value
        if "pk" in params and len(self._plan.pk_names) == 1:
            params[self._plan.pk_names[0]] = params.pop("pk")
        return params

    async def update_or_create(
        self,
        defaults: dict[str, Any] | None = None,
        create_defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[M, bool]:
        """``(object, created)``: update the one matching ``kwargs`` with ``defaults``, or create it.

        Runs in one transaction (a session is opened when none is current), reading the row
        with ``SELECT ... FOR UPDATE`` where the backend has it.
        """
        runner = _context.runner_for(self._using)
        if getattr(runner, "_sx_is_database", False):
            async with runner.session():
                return await self._update_or_create(defaults, create_defaults, kwargs)
        return await self._update_or_create(defaults, create_defaults, kwargs)

    async def _update_or_create(
        self, defaults: dict[str, Any] | None, create_defaults: dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> tuple[M, bool]:
        runner = _context.runner_for(self._using)
        runner.use_primary()
        dialect = runner.dialect
        locked = self.select_for_update() if dialect.name != "sqlite" else self
        try:
            obj = await locked.get(**kwargs)
        except self.model.DoesNotExist:
            params = self._create_params(kwargs, defaults if create_defaults is None else create_defaults)
            try:
                return await self._create_guarded(params), True
            except IntegrityError:
                obj = await locked.get(**kwargs)
        updates = self._checked_updates(defaults or {})
        previous = {key: obj.__dict__[key] for key in updates if key in obj.__dict__}
        for key, value in updates.items():
            setattr(obj, key, value)
        try:
            await _context.runner_for(self._using).save_object(obj)
        except BaseException:
            for key in updates:  # leave no half-applied defaults behind
                if key in previous:
                    setattr(obj, key, previous[key])
                else:
                    obj.__dict__.pop(key, None)
            raise
        return obj, False

    async def _write(self, runner: Any, statement: Any) -> Any:
        """Run an UPDATE/DELETE; a constraint failure is ``sx.IntegrityError`` naming the model."""
        try:
            return await runner.execute(statement)
        except sa.exc.IntegrityError as exc:
            raise IntegrityError(f"{self.model.__name__}: {exc.orig}") from exc

    def _checked_updates(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """``update_or_create`` defaults: names resolved, values checked, nothing applied yet."""
        plan = self._plan
        updates: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, raw in defaults.items():
            value = raw() if callable(raw) else raw
            if key == "pk" and len(plan.pk_names) == 1:
                key = plan.pk_names[0]
            if key in plan.relations:
                updates[key] = value
                continue
            spec = plan.fields.get(key)
            if spec is None:
                raise field_error(plan, key, "update_or_create defaults")
            try:
                updates[key] = spec.coerce(value)
            except (TypeError, ValueError) as exc:
                errors.append({"field": key, "value": value, "message": str(exc)})
        if errors:
            raise ValidationError(self.model.__name__, errors)
        return updates

    async def update(self, **values: Any) -> int:
        """ONE ``UPDATE`` of every matching row; returns the number of rows matched.

        Values are checked by the field's rules (``ValidationError``); ``F()`` expressions
        read the row's own fields. A ``VersionField`` is bumped. Objects already loaded in
        a session keep their values until refreshed (the identity map is not consulted).
        """
        self._check_writable("update")
        if not values:
            raise TypeError("update() needs field=value arguments")
        if self._empty:
            return 0
        compiler = Compiler(self)
        plan = self._plan
        table = plan.table
        where, _ = compiler.where()
        joined = bool(compiler.base.joins)
        assignments: dict[str, Any] = {}
        errors = []
        for name, value in values.items():
            spec = plan.fields.get(name)
            if spec is None and name in plan.relations:
                spec = plan.fields[plan.relations[name].column_name]
                value = value.pk if isinstance(value, _model.Model) else value
            if spec is None:
                raise field_error(plan, name, "update")
            if isinstance(value, (Expression, Q)):
                before = len(compiler.base.joins)
                sql = value.resolve(compiler)
                if len(compiler.base.joins) != before:
                    raise FieldError(f"update() can only read fields of {self.model.__name__} itself, not across relations")
            elif isinstance(value, sa.sql.ClauseElement) or hasattr(value, "__clause_element__"):
                sql = compiler.core(value)
            else:
                try:
                    sql = spec.coerce(value)
                except (ValueError, TypeError) as exc:
                    errors.append({"field": name, "value": value, "message": str(exc)})
                    continue
            assignments[spec.column.key] = sql
        if errors:
            raise ValidationError(self.model.__name__, errors)
        version = plan.version_field
        if version is not None and version not in values:
            column = plan.fields[version].column
            assignments[column.key] = table.c[column.key] + 1
        stmt = sa.update(table)
        stmt = stmt.where(Compiler(self).pk_subquery()) if joined else (stmt.where(*where) if where else stmt)
        result = await self._write(self._runner(), stmt.values(assignments))
        return int(result.rowcount)

    async def delete(self) -> int:
        """ONE ``DELETE`` of every matching row; returns the number of rows deleted.

        Related rows follow the database's ON DELETE rules. Inside a session, loaded objects
        of the deleted rows stop being persistent and loaded related objects mirror SET NULL
        / CASCADE, as with ``instance.delete()`` (a rollback brings them back).
        """
        self._check_writable("delete")
        if self._values is not None:
            raise TypeError("cannot call delete() after values() or values_list()")
        if self._distinct or self._distinct_fields:
            raise TypeError("cannot call delete() after distinct()")
        if self._empty:
            return 0
        runner = self._runner()
        if protects(self.model):
            # relations (issue 6): PROTECT refuses before anything is deleted
            await check_protected(runner.fetch_all, self.model, self._keys_of)
        compiler = Compiler(self)
        table = self._plan.table
        where, _ = compiler.where()
        stmt = sa.delete(table)
        if compiler.base.joins:
            stmt = stmt.where(Compiler(self).pk_subquery())
        elif where:
            stmt = stmt.where(*where)
        delete_where = getattr(runner, "delete_where", None)
        if delete_where is not None:  # a session: loaded objects follow the DELETE
            rows = Compiler(self).select(columns=list(table.columns), ordered=False)
            return int(await delete_where(self.model, stmt, rows))
        result = await self._write(runner, stmt)
        return int(result.rowcount)

    def _keys_of(self, field: str) -> Any:
        """``SELECT <field> ...`` under this query's conditions (a subquery for PROTECT checks)."""
        column = self._plan.fields[field].column
        return Compiler(self).select(columns=[self._plan.table.c[column.key]], ordered=False)

    def _check_writable(self, name: str) -> None:
        if self._limit is not None or self._offset:
            raise TypeError(f"cannot {name}() a query once a slice has been taken")
        if self._combinator is not None:
            raise NotSupportedError(f"{name}() is not supported after {self._combinator[0]}()")
        if self._group_by is not None:
            raise TypeError(f"cannot {name}() a grouped query (values(...).annotate(...))")

    async def explain(self, *, analyze: bool = False) -> str:
        """The database's plan for this query (``EXPLAIN``; SQLite: ``EXPLAIN QUERY PLAN``)."""
        runner = self._runner()
        if analyze and runner.dialect.name == "sqlite":
            raise NotSupportedError("sqlite has no EXPLAIN ANALYZE")
        rows = await runner.fetch_all(Explain(self.statement, analyze=analyze))
        return "\n".join(" ".join(str(v) for v in row) for row in rows)


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
        return found[0]  # type: ignore[no-any-return]


class Explain(Executable, ClauseElement):
    """``EXPLAIN <statement>``, its parameters still bound (SQLAlchemy's recipe)."""

    inherit_cache = False

    def __init__(self, statement: Any, *, analyze: bool = False) -> None:
        self.statement = statement
        self.analyze = analyze


def _explained(element: Explain, compiler: Any, head: str, **kw: Any) -> str:
    text = head + compiler.process(element.statement, **kw)
    # The plan's rows are not the statement's rows: read them as the cursor describes them.
    compiler._result_columns = []
    return str(text)


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return _explained(element, compiler, "EXPLAIN ANALYZE " if element.analyze else "EXPLAIN ", **kw)


@compiles(Explain, "mysql")
def _explain_mysql(element: Explain, compiler: Any, **kw: Any) -> str:
    return _explained(element, compiler, "ANALYZE " if element.analyze else "EXPLAIN ", **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: Any, **kw: Any) -> str:
    return _explained(element, compiler, "EXPLAIN QUERY PLAN ", **kw)


async def _insert_batches(runner: Any, objects: list[Any], batch_size: int | None) -> None:
    step = batch_size or len(objects)
    for start in range(0, len(objects), step):
        await runner.insert_objects(objects[start : start + step])


def _rows_statement(qs: QuerySet[Any]) -> Any:
    return qs.statement


def _count_statement(qs: QuerySet[Any]) -> Any:
    return Compiler(qs).count()


def _exists_statement(qs: QuerySet[Any]) -> Any:
    return Compiler(qs).exists()


def _aggregate_statement(named: dict[str, Any], qs: QuerySet[Any]) -> Any:
    return Compiler(qs).aggregate_select(named)


def _dialect_named(name: str) -> Any:
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    dialects = {"postgresql": postgresql, "postgres": postgresql, "mysql": mysql, "mariadb": mysql, "sqlite": sqlite}
    if name not in dialects:
        raise ValueError(f"unknown dialect {name!r}; use one of {', '.join(sorted(dialects))}")
    return dialects[name].dialect()


def _named(args: tuple[Any, ...], kwargs: dict[str, Any], method: str) -> dict[str, Any]:
    """Keyword expressions, plus positional aggregates under Django's default name."""
    named = dict(kwargs)
    for expression in args:
        default_alias = getattr(expression, "default_alias", None)
        if default_alias is None:
            raise TypeError(f"a positional argument of {method}() needs a name: {method}(name={expression!r})")
        named[default_alias()] = expression
    return named


def _flip(item: str) -> str:
    return item[1:] if item.startswith("-") else "-" + item


def _reversed(item: Any) -> Any:
    if isinstance(item, str):
        return item if item == "?" else _flip(item)
    if isinstance(item, OrderBy):
        return item.reversed()
    if isinstance(item, Expression):
        return item.desc()
    modifier = getattr(item, "modifier", None)
    if modifier is sa.sql.operators.desc_op:
        return item.element.asc()
    if modifier is sa.sql.operators.asc_op:
        return item.element.desc()
    return sa.desc(item)


def _empty_aggregate(expression: Any) -> Any:
    default = getattr(expression, "default", None)
    if default is not None:
        return default
    return 0 if getattr(expression, "function", "") == "COUNT" else None


def _describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(parts) or "no conditions"


_model.set_queryset_factory(QuerySet)
