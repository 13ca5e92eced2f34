"""Django's query expressions, resolved into SQLAlchemy Core against a model (L3).

``Q`` trees, ``F`` references and aggregates hold names, not columns; a query resolves
them against its model (and the relations the names cross) when it builds the Core
statement. Every name is checked against the model, so nothing a user passes is pasted
into SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["Q", "F", "Expression", "Resolver", "Value"]


class Resolver(Protocol):
    """What an expression needs from the query that resolves it."""

    def column(self, path: str, context: str) -> ColumnElement[Any]: ...

    def condition(self, key: str, value: Any) -> ColumnElement[bool]: ...

    def value(self, value: Any, like: ColumnElement[Any] | None = None) -> Any: ...


class Expression:
    """Base of expressions resolved against a model: ``F``, ``Value``, aggregates, ``Case``."""

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        raise NotImplementedError

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


def resolve_operand(value: Any, resolver: Resolver, like: ColumnElement[Any] | None = None) -> Any:
    """An expression, a Core element, or a plain value bound as a parameter."""
    if isinstance(value, Expression):
        return value.resolve(resolver)
    if isinstance(value, sa.ColumnElement) or hasattr(value, "__clause_element__"):
        return value
    return resolver.value(value, like)


class F(Expression):
    """A reference to a field, possibly across relations: ``F("author__name")``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        return resolver.column(self.name, "F()")

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class Value(Expression):
    """A literal value, always bound as a parameter."""

    __slots__ = ("value", "type_")

    def __init__(self, value: Any, type_: Any = None) -> None:
        self.value = value
        self.type_ = type_

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

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        left = resolve_operand(self.lhs, resolver)
        right = resolve_operand(self.rhs, resolver, left if isinstance(left, sa.ColumnElement) else None)
        if not isinstance(left, sa.ColumnElement):
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


class Q:
    """A tree of conditions combined with ``&``, ``|`` and ``~``.

    ``Q(name="a") | Q(age__gt=3)``. Keyword arguments are always lookups: there is no
    keyword that changes the connector, so ``filter(**user_dict)`` cannot turn an AND into
    an OR (Django CVE-2025-64459).
    """

    AND = "AND"
    OR = "OR"
    __slots__ = ("children", "connector", "negated")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.children: tuple[Any, ...] = (*args, *kwargs.items())
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
        parts: list[ColumnElement[bool]] = []
        for child in self.children:
            if isinstance(child, Q):
                parts.append(child.resolve(resolver))
            elif isinstance(child, tuple):
                parts.append(resolver.condition(child[0], child[1]))
            elif isinstance(child, Expression):
                parts.append(child.resolve(resolver))
            else:
                parts.append(child)
        if not parts:
            clause: ColumnElement[bool] = sa.true()
        elif len(parts) == 1:
            clause = parts[0]
        elif self.connector == Q.AND:
            clause = sa.and_(*parts)
        else:
            clause = sa.or_(*parts)
        return sa.not_(clause) if self.negated else clause
