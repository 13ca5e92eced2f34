"""Django's query expressions, resolved into SQLAlchemy Core against a model (L3).

``Q`` trees, ``F`` references, ``Case``/``When``, ``Coalesce``, ``Subquery``/``Exists``
and aggregates hold names, not columns; a query resolves them against its model (and the
relations the names cross) when it builds the Core statement. Every name is checked
against the model, so nothing a user passes is pasted into SQL.

An expression's ``resolve(resolver)`` gets a :class:`Resolver`: the compiler of the query
being built (see ``_compile.py``), which knows the model, the joins made so far, the
annotations, and the enclosing query for ``OuterRef``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

__all__ = [
    "Q",
    "F",
    "Value",
    "Case",
    "When",
    "Coalesce",
    "Subquery",
    "Exists",
    "OuterRef",
    "Expression",
    "OrderBy",
    "Resolver",
]


class Resolver(Protocol):
    """What an expression needs from the query that resolves it."""

    def column(self, path: str, context: str) -> ColumnElement[Any]:
        """A field path (``"author__name"``, ``"created__year"``) or an annotation name."""

    def condition(self, q: Q) -> ColumnElement[bool]:
        """A ``Q`` tree as a boolean expression (``When`` conditions, ``filter=`` of aggregates)."""

    def value(self, value: Any, like: ColumnElement[Any] | None = None) -> Any:
        """A plain value bound as a parameter (typed like ``like`` when given)."""

    def aggregate(self, aggregate: Any) -> ColumnElement[Any]:
        """An aggregate: in place (GROUP BY / aggregate()) or as a per-row subquery."""

    def subquery(self, queryset: Any, *, exists: bool = False) -> Any:
        """A nested QuerySet compiled as a subquery that may refer to this query (OuterRef)."""

    def outer_column(self, path: str) -> ColumnElement[Any]:
        """A name resolved in the enclosing query (``OuterRef``)."""


class Expression:
    """Base of expressions resolved against a model: ``F``, ``Value``, aggregates, ``Case``."""

    #: True for aggregates and expressions that contain one.
    contains_aggregate = False

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        raise NotImplementedError

    def children(self) -> tuple[Any, ...]:
        return ()

    def refs(self) -> Iterator[str]:
        """Names of the fields this expression reads in the current query (for join analysis)."""
        for child in self.children():
            if isinstance(child, Expression):
                yield from child.refs()
            elif isinstance(child, Q):
                yield from q_keys(child)

    def _combine(self, other: Any, op: Callable[[Any, Any], Any], reverse: bool = False) -> Combined:
        return Combined(other, op, self) if reverse else Combined(self, op, other)

    def __add__(self, other: Any) -> Combined:
        return self._combine(other, operator.add)

    def __radd__(self, other: Any) -> Combined:
        return self._combine(other, operator.add, True)

    def __sub__(self, other: Any) -> Combined:
        return self._combine(other, operator.sub)

    def __rsub__(self, other: Any) -> Combined:
        return self._combine(other, operator.sub, True)

    def __mul__(self, other: Any) -> Combined:
        return self._combine(other, operator.mul)

    def __rmul__(self, other: Any) -> Combined:
        return self._combine(other, operator.mul, True)

    def __truediv__(self, other: Any) -> Combined:
        return self._combine(other, operator.truediv)

    def __rtruediv__(self, other: Any) -> Combined:
        return self._combine(other, operator.truediv, True)

    def __mod__(self, other: Any) -> Combined:
        return self._combine(other, operator.mod)

    def __neg__(self) -> Combined:
        return Combined(0, operator.sub, self)

    def asc(self, *, nulls_first: bool = False, nulls_last: bool = False) -> OrderBy:
        return OrderBy(self, descending=False, nulls_first=nulls_first, nulls_last=nulls_last)

    def desc(self, *, nulls_first: bool = False, nulls_last: bool = False) -> OrderBy:
        return OrderBy(self, descending=True, nulls_first=nulls_first, nulls_last=nulls_last)


def as_expression(value: Any) -> Any:
    """Function arguments as Django reads them: a string is a field name (``F``)."""
    return F(value) if isinstance(value, str) else value


def resolve_operand(value: Any, resolver: Resolver, like: ColumnElement[Any] | None = None) -> Any:
    """An expression, a Core element, or a plain value bound as a parameter."""
    if isinstance(value, Expression):
        return value.resolve(resolver)
    if isinstance(value, Q):
        return resolver.condition(value)
    if isinstance(value, sa.ColumnElement) or hasattr(value, "__clause_element__"):
        return value
    return resolver.value(value, like)


class F(Expression):
    """A reference to a field, possibly across relations: ``F("author__name")``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"F() takes a field name, not {type(name).__name__}")
        self.name = name

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        return resolver.column(self.name, "F()")

    def refs(self) -> Iterator[str]:
        yield self.name

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class OuterRef(F):
    """A field of the enclosing query, inside ``Subquery``/``Exists``: ``OuterRef("pk")``."""

    __slots__ = ()

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        return resolver.outer_column(self.name)

    def refs(self) -> Iterator[str]:
        return iter(())

    def __repr__(self) -> str:
        return f"OuterRef({self.name!r})"


class Value(Expression):
    """A literal value, always bound as a parameter."""

    __slots__ = ("value", "type_")

    def __init__(self, value: Any, output_field: Any = None) -> None:
        self.value = value
        self.type_ = output_field

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        return sa.literal(self.value, self.type_)

    def __repr__(self) -> str:
        return f"Value({self.value!r})"


class Combined(Expression):
    """``lhs <op> rhs`` for arithmetic between expressions and values."""

    __slots__ = ("lhs", "op", "rhs")

    def __init__(self, lhs: Any, op: Callable[[Any, Any], Any], rhs: Any) -> None:
        self.lhs = lhs
        self.op = op
        self.rhs = rhs

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return any(getattr(c, "contains_aggregate", False) for c in (self.lhs, self.rhs))

    def children(self) -> tuple[Any, ...]:
        return (self.lhs, self.rhs)

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        if isinstance(self.lhs, (Expression, sa.ColumnElement)):
            left = resolve_operand(self.lhs, resolver)
            right = resolve_operand(self.rhs, resolver, left)
        else:
            right = resolve_operand(self.rhs, resolver)
            left = resolve_operand(self.lhs, resolver, right)
        return self.op(left, right)  # type: ignore[no-any-return]


class OrderBy:
    """An ordering of an expression, with optional NULLS FIRST / LAST."""

    __slots__ = ("expression", "descending", "nulls_first", "nulls_last")

    def __init__(
        self, expression: Any, *, descending: bool, nulls_first: bool = False, nulls_last: bool = False
    ) -> None:
        if nulls_first and nulls_last:
            raise ValueError("nulls_first and nulls_last are mutually exclusive")
        self.expression = expression
        self.descending = descending
        self.nulls_first = nulls_first
        self.nulls_last = nulls_last

    def reversed(self) -> OrderBy:
        return OrderBy(
            self.expression,
            descending=not self.descending,
            nulls_first=self.nulls_last,
            nulls_last=self.nulls_first,
        )


class When(Expression):
    """One branch of ``Case``: ``When(Q(...) or lookups, then=value)``."""

    __slots__ = ("condition", "then")

    def __init__(self, condition: Any = None, then: Any = None, **lookups: Any) -> None:
        if lookups:
            condition = Q(**lookups) if condition is None else Q(condition, **lookups)
        if condition is None:
            raise TypeError("When() needs a condition: a Q object, an expression or lookups")
        self.condition = condition
        self.then = then

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return getattr(self.then, "contains_aggregate", False)

    def children(self) -> tuple[Any, ...]:
        return (self.condition, self.then)

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        raise TypeError("When() is resolved by Case()")


class Case(Expression):
    """``CASE WHEN ... THEN ... ELSE default END``; string values are values, not names."""

    __slots__ = ("whens", "default", "output_field")

    def __init__(self, *whens: When, default: Any = None, output_field: Any = None) -> None:
        if not whens or not all(isinstance(w, When) for w in whens):
            raise TypeError("Case() takes one or more When() objects")
        self.whens = whens
        self.default = default
        self.output_field = output_field

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return any(getattr(c, "contains_aggregate", False) for c in (*self.whens, self.default))

    def children(self) -> tuple[Any, ...]:
        return (*self.whens, self.default)

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        branches = []
        like = None
        for when in self.whens:
            condition = when.condition
            if isinstance(condition, Q):
                sql_condition = resolver.condition(condition)
            else:
                sql_condition = resolve_operand(condition, resolver)
            then = resolve_operand(when.then, resolver, like)
            if like is None and isinstance(then, sa.ColumnElement):
                like = then
            branches.append((sql_condition, then))
        default = None if self.default is None else resolve_operand(self.default, resolver, like)
        case = sa.case(*branches, else_=default)
        if self.output_field is not None:
            return sa.type_coerce(case, self.output_field)
        return case


class Coalesce(Expression):
    """The first non-NULL of its arguments; strings are field names (as Django)."""

    __slots__ = ("expressions", "output_field")

    def __init__(self, *expressions: Any, output_field: Any = None) -> None:
        if len(expressions) < 2:
            raise ValueError("Coalesce() takes at least two expressions")
        self.expressions = tuple(as_expression(e) for e in expressions)
        self.output_field = output_field

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return any(getattr(e, "contains_aggregate", False) for e in self.expressions)

    def children(self) -> tuple[Any, ...]:
        return self.expressions

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        resolved: list[Any] = []
        like = None
        for expression in self.expressions:
            item = resolve_operand(expression, resolver, like)
            if like is None and isinstance(item, sa.ColumnElement):
                like = item
            resolved.append(item)
        result = sa.func.coalesce(*resolved, type_=self.output_field or getattr(like, "type", None))
        return result


class Subquery(Expression):
    """A QuerySet as a scalar subquery: ``Subquery(Book.objects.filter(author=OuterRef("pk")).values("title")[:1])``."""

    __slots__ = ("queryset",)

    def __init__(self, queryset: Any) -> None:
        self.queryset = queryset

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        return resolver.subquery(self.queryset).scalar_subquery()  # type: ignore[no-any-return]


class Exists(Expression):
    """``EXISTS (subquery)``; ``~Exists(...)`` is ``NOT EXISTS``."""

    __slots__ = ("queryset", "negated")

    def __init__(self, queryset: Any, *, negated: bool = False) -> None:
        self.queryset = queryset
        self.negated = negated

    def __invert__(self) -> Exists:
        return Exists(self.queryset, negated=not self.negated)

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        exists = resolver.subquery(self.queryset, exists=True).exists()
        return sa.not_(exists) if self.negated else exists  # type: ignore[no-any-return]


def q_keys(q: Q) -> Iterator[str]:
    """Every lookup key and F name in a Q tree (for join analysis)."""
    for child in q.children:
        if isinstance(child, Q):
            yield from q_keys(child)
        elif isinstance(child, tuple) and len(child) == 2:
            yield child[0]
            if isinstance(child[1], Expression):
                yield from child[1].refs()
        elif isinstance(child, Expression):
            yield from child.refs()


class Q:
    """A tree of conditions combined with ``&``, ``|`` and ``~``.

    ``Q(name="a") | Q(age__gt=3)``. Keyword arguments are always lookups: there is no
    keyword that changes the connector, so ``filter(**user_dict)`` cannot turn an AND into
    an OR (Django CVE-2025-64459); ``_connector`` is just an unknown field name.
    """

    AND = "AND"
    OR = "OR"
    __slots__ = ("children", "connector", "negated")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.children: tuple[Any, ...] = (*args, *sorted(kwargs.items()))
        self.connector = Q.AND
        self.negated = False

    @classmethod
    def _make(cls, children: tuple[Any, ...], connector: str, negated: bool) -> Q:
        node = cls.__new__(cls)
        node.children = children
        node.connector = connector
        node.negated = negated
        return node

    def _join(self, other: Any, connector: str) -> Q:
        if not isinstance(other, Q):
            raise TypeError(f"cannot combine Q with {type(other).__name__}")
        if not other.children:
            return self
        if not self.children:
            return other
        return Q._make((self, other), connector, False)

    def __and__(self, other: Any) -> Q:
        return self._join(other, Q.AND)

    def __or__(self, other: Any) -> Q:
        return self._join(other, Q.OR)

    def __invert__(self) -> Q:
        return Q._make((self,), Q.AND, True)

    def __bool__(self) -> bool:
        return bool(self.children)

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}({inner})"

    def resolve(self, resolver: Resolver) -> ColumnElement[bool]:
        """The tree as a boolean expression (``annotate(flag=Q(...))``)."""
        return resolver.condition(self)
