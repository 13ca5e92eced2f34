"""Statement templates per query shape: a repeated query skips compilation (L3).

A loop such as ``for i in ids: await Author.objects.get(id=i)`` builds the same statement
with another value each time. The *shape* of a query is everything but its filter values:
the model, the operation (rows, count, exists, an aggregate), each ``filter()`` call's
keys (field path and lookup) with the Python types of their values, the ordering, the
slice, ``only()`` / ``defer()``. The first query of a shape builds a template through the
general compiler, with ``bindparam`` placeholders where the values go. Later queries of
that shape convert their values with the lookup's own ``prepare`` (the same conversions
and the same ``ValidationError`` as the compiler's, through ``prepare_value``) and run
the template with them; SQLAlchemy's compiled cache then has the SQL at once. Templates
live on the model's plan (``plan._sx_shapes``), a few hundred at most per model.

A template stands in for the general statement only where it is the same query:

- every value is a plain scalar (int, str, float, Decimal, bool, date, time, datetime,
  timedelta, UUID, bytes) or a saved instance with a scalar primary key. ``None``
  (``IS NULL``), lists (``in``), ``F()``, subqueries and Core expressions take the general
  path, because the SQL they give depends on the value;
- every lookup is a built-in one whose SQL does not depend on a scalar value (``exact``,
  ``iexact``, ``gt``, ``gte``, ``lt``, ``lte`` and the text matches); conditions on JSON
  fields, across to-many relations or on annotations, and queries with ``values()``,
  ``distinct()``, unions or ``select_for_update()`` take the general path.
  ``select_related`` paths are part of the shape (the template hands its joins, where
  the related columns sit in a row, to ``prefetch.load_eager``); ``prefetch_related``
  does not change the query itself and runs its own queries afterwards;
- the first time a shape runs on a dialect, its template is compiled next to the general
  statement of that query: the SQL text and the parameters as the driver receives them
  (after SQLAlchemy's bind processors) must be identical, or the shape stays on the
  general path for that dialect.

``qs.statement`` and ``qs.sql()`` always show the general statement, values included.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import lookups
from ._compile import Compiler, prepare_value
from .aggregates import Avg, Count, Max, Min, Sum
from .expressions import Expression, F, Q
from .lookups import Lookup, Pattern, get_lookup, is_json

if TYPE_CHECKING:
    from .model import ModelPlan

__all__ = ["aggregate_operation", "plain_keys", "statement_for"]

#: Value types a template binds: the SQL a lookup builds is the same for any value of these.
_SCALARS = frozenset(
    {int, str, float, bool, decimal.Decimal, dt.date, dt.datetime, dt.time, dt.timedelta, uuid.UUID, bytes}
)
#: Built-in lookups whose SQL does not depend on a (non-None, scalar) value.
_TEMPLATE_LOOKUPS = frozenset(
    {"exact", "iexact", "gt", "gte", "lt", "lte", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
#: Templates kept per model; beyond it the model's templates are dropped and rebuilt.
MAX_SHAPES = 512
#: False: every query takes the general path (the tests compare the two; a debugging aid).
enabled = True

#: What a slot needs to turn a value into its parameter: (parameter name, filter key, lookup, converter).
_Slot = tuple[str, str, Lookup, Callable[[Any], Any] | None]


class Shape:
    """One shape's template statement, its value slots and per-dialect verdicts."""

    __slots__ = ("statement", "slots", "joins", "verdicts")

    def __init__(self, statement: Any, slots: tuple[_Slot, ...], joins: Any = None) -> None:
        self.statement = statement
        self.slots = slots
        #: The template's ``select_related`` joins (where their columns sit in a row), or None.
        self.joins = joins
        #: dialect key -> whether the template compiles exactly as the general statement.
        self.verdicts: dict[Any, bool] = {}

    def parameters(self, plan: ModelPlan, values: list[Any]) -> dict[str, Any]:
        return {
            name: prepare_value(plan, key, lookup, value, convert)
            for (name, key, lookup, convert), value in zip(self.slots, values, strict=True)
        }


#: A shape the templates cannot serve (cached so it is not tried again).
_GENERAL = Shape(None, ())


def statement_for(
    qs: Any, dialect: sa.Dialect, operation: Any, build: Callable[[Any], Any]
) -> tuple[Any, dict[str, Any] | None]:
    """``(statement, parameters)`` to run ``build(qs)``: a template and its values, or the
    general statement and None.

    ``operation`` names what ``build`` makes of a QuerySet ("rows", "count", ...; hashable,
    part of the shape): it must build the same statement for every QuerySet of a shape.
    """
    found = _shape_key(qs, operation) if enabled else None
    if found is None:
        return build(qs), None
    key, values = found
    plan = qs._plan
    shapes: dict[Any, Shape] | None = plan.__dict__.get("_sx_shapes")
    if shapes is None:
        shapes = plan.__dict__["_sx_shapes"] = {}
    shape = shapes.get(key)
    if shape is None:
        shape = _template(qs, build)
        if shape is None:
            return build(qs), None  # the general path raises the error this query deserves
        if len(shapes) >= MAX_SHAPES:
            shapes.clear()
        shapes[key] = shape
    if shape is _GENERAL:
        return build(qs), None
    parameters = shape.parameters(plan, values)
    if dialect.server_version_info is None:
        return build(qs), None  # not connected yet: the dialect may still change how it compiles
    dialect_key = (type(dialect), dialect.server_version_info, dialect.paramstyle)
    verdict = shape.verdicts.get(dialect_key)
    if verdict is None:
        general = build(qs)
        verdict = shape.verdicts[dialect_key] = _same_query(general, shape.statement, parameters, dialect)
        if not verdict:
            return general, None
    if not verdict:
        return build(qs), None
    if shape.joins is not None:
        qs.__dict__["_joined"] = shape.joins  # prefetch.load_eager reads the joined columns with them
    return shape.statement, parameters


def _shape_key(qs: Any, operation: Any) -> tuple[Any, list[Any]] | None:
    """The shape of ``qs`` and its filter values in slot order, or None (general path only)."""
    if (
        qs._annotations
        or qs._values is not None
        or qs._combinator is not None
        or qs._group_by is not None
        or qs._distinct
        or qs._for_update is not None
        or qs._empty
        or qs._eager.link is not None
    ):
        return None
    order = qs._order
    for item in order:
        if type(item) is not str or item == "?":
            return None
    values: list[Any] = []
    where = []
    for q in qs._where:
        shape = _q_shape(q, values)
        if shape is None:
            return None
        where.append(shape)
    # prefetch_related runs its own queries afterwards: only select_related changes this one
    shape = (operation, tuple(where), order, qs._limit, qs._offset, qs._only, qs._defer, qs._eager.select_related)
    return shape, values


def _q_shape(q: Any, values: list[Any]) -> tuple[Any, ...] | None:
    """``(connector, negated, children)`` with ``(key, value type)`` leaves; values appended."""
    if type(q) is not Q:
        return None
    children: list[Any] = []
    for child in q.children:
        if type(child) is not tuple:
            shape = _q_shape(child, values)
            if shape is None:
                return None
            children.append(shape)
            continue
        if len(child) != 2:
            return None
        key, value = child
        kind = type(value)
        if kind not in _SCALARS:
            if getattr(kind, "__sx_plan__", None) is None:
                return None
            value = value.pk  # a saved instance stands for its key (as the compiler does)
            if type(value) not in _SCALARS:
                return None
        children.append((key, kind))
        values.append(value)
    return (q.connector, q.negated, tuple(children))


def _template(qs: Any, build: Callable[[Any], Any]) -> Shape | None:
    """The shape's template: ``qs`` with a placeholder for each value, built by ``build``.

    ``_GENERAL`` when a condition is one the templates do not serve; None when the names
    do not resolve (the general path then raises the error).
    """
    try:
        compiler = Compiler(qs)
        slots: list[_Slot] = []
        where = [_q_template(compiler, q, slots) for q in qs._where]
        if None in where:
            return _GENERAL
        template = qs._clone()
        template._where = tuple(where)
        statement = build(template)
        return Shape(statement, tuple(slots), template.__dict__.get("_joined"))
    except Exception:  # noqa: BLE001 - the general path raises it with the user's values
        return None


def _q_template(compiler: Compiler, q: Q, slots: list[_Slot]) -> Q | None:
    """``q`` with a placeholder for each value (slots appended in the order of ``_q_shape``)."""
    children: list[Any] = []
    for child in q.children:
        if type(child) is not tuple:
            inner = _q_template(compiler, child, slots)
            if inner is None:
                return None
            children.append(inner)
            continue
        key = child[0]
        slot = _slot(compiler, key, f"sx_{len(slots)}")
        if slot is None:
            return None
        name, _, lookup, _ = slot
        kind = Pattern(lookup.kind) if isinstance(lookup, lookups._TextLookup) else None
        children.append((key, sa.bindparam(name, type_=kind)))
        slots.append(slot)
    return Q._make(tuple(children), q.connector, q.negated)


def _slot(compiler: Compiler, key: str, name: str) -> _Slot | None:
    path = compiler.parse(key, "filter")
    if path.annotation is not None or path.field is None or next(path.many_prefixes(), None) is not None:
        return None
    sql, json_key, _, convert, rest = compiler.target(path, "filter")
    if json_key is not None or is_json(path.field.column.type) or len(rest) > 1:
        return None
    lookup = get_lookup(rest[0] if rest else "exact")
    if lookup is None or lookup.name not in _TEMPLATE_LOOKUPS or type(lookup).__module__ != lookups.__name__:
        return None
    return name, key, lookup, convert


def _same_query(general: Any, template: Any, parameters: dict[str, Any], dialect: sa.Dialect) -> bool:
    """Whether the template with ``parameters`` sends exactly what the general statement sends."""
    try:
        expected = general.compile(dialect=dialect)
        got = template.compile(dialect=dialect)
        if expected.string != got.string:
            return False
        return _wire(expected, None) == _wire(got, parameters)
    except Exception:  # noqa: BLE001 - anything unexpected: keep the general path
        return False


def _wire(compiled: Any, parameters: dict[str, Any] | None) -> list[tuple[type, Any]]:
    """The parameters in the order the driver receives them, after the bind processors."""
    order = compiled.positiontup
    if order is None:
        raise ValueError("a named paramstyle: not compared")
    values = compiled.construct_params(parameters)
    processors = compiled._bind_processors
    wire = []
    for name in order:
        value = values[name]
        processor = processors.get(name)
        if processor is not None:
            value = processor(value)
        wire.append((type(value), value))
    return wire


def aggregate_operation(named: dict[str, Any]) -> tuple[Any, ...] | None:
    """The shape of ``aggregate(**named)`` when every aggregate is a built-in one over a
    field (or ``*``) without ``filter=`` or ``default=``; None otherwise."""
    shape: list[Any] = ["aggregate"]
    for name, aggregate in named.items():
        kind = type(aggregate)
        if kind not in (Count, Sum, Avg, Min, Max) or aggregate.filter is not None or aggregate.default is not None:
            return None
        argument = aggregate.expression
        if type(argument) is F:
            argument = argument.name
        elif argument != "*":
            return None
        shape.append((name, kind, argument, aggregate.distinct))
    return tuple(shape)


def plain_keys(qs: Any, q: Any) -> list[str] | None:
    """The filter keys of ``q`` when resolving them is all ``filter()`` has to check: every
    condition a ``key=value`` pair whose value is not an expression, and no annotations
    (their names could shadow fields). None otherwise."""
    if qs._annotations:
        return None
    keys: list[str] = []
    stack = [q]
    while stack:
        node = stack.pop()
        if type(node) is not Q:
            return None
        for child in node.children:
            if type(child) is not tuple:
                stack.append(child)
            elif len(child) != 2 or type(child[0]) is not str or isinstance(child[1], Expression):
                return None
            else:
                keys.append(child[0])
    return keys
