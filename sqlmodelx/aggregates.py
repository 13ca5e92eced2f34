"""Aggregates: ``Count``, ``Sum``, ``Avg``, ``Min``, ``Max``, with ``distinct=`` and ``filter=`` (L3).

An aggregate knows only how to turn its argument into SQL; *where* it runs is the query's
business (``_compile.py``): in place for ``aggregate()`` and ``values(...).annotate(...)``
(GROUP BY), or as a correlated subquery per row for ``annotate()`` on objects, so two
aggregates over different relations never multiply each other's rows.

The result types are the same on every backend: ``Count`` an int; ``Sum`` the field's type
(integers as int, decimals as ``Decimal`` at the field's scale); ``Avg`` a float for integer
and float fields (computed in floating point, never truncated) and a ``Decimal`` with four
more places for decimal fields; ``Min``/``Max`` the field's type, strings by code point.
"""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from .expressions import Expression, F, Q, as_expression, resolve_operand
from .lookups import comparable
from .types import DecimalType

if TYPE_CHECKING:
    from .expressions import Resolver

__all__ = ["Aggregate", "Count", "Sum", "Avg", "Min", "Max"]


def _base(type_: Any) -> Any:
    return type_.impl_instance if isinstance(type_, sa.TypeDecorator) else type_


def _is_integer(type_: Any) -> bool:
    return isinstance(type_, sa.Integer)


def _is_decimal(type_: Any) -> bool:
    return isinstance(type_, DecimalType) or (
        isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float)
    )


class _AvgDecimal(sa.TypeDecorator[decimal.Decimal]):
    """The average of a decimal field: a Decimal rounded half-up at the field's scale + 4."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__(precision=65, scale=scale, asdecimal=True)
        self._quantum = decimal.Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(sa.Numeric(asdecimal=dialect.name != "sqlite"))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, decimal.Decimal):
            value = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
        return value.quantize(self._quantum, rounding=decimal.ROUND_HALF_UP)


class Aggregate(Expression):
    """Base of aggregates. ``Count("books", distinct=True, filter=Q(books__pages__gt=100))``."""

    function: ClassVar[str] = ""
    contains_aggregate = True
    allows_star: ClassVar[bool] = False

    def __init__(
        self, expression: Any = None, *, distinct: bool = False, filter: Q | None = None, default: Any = None
    ) -> None:
        star = isinstance(expression, str) and expression == "*"
        if expression is None or (star and not self.allows_star):
            raise TypeError(f"{type(self).__name__}() needs a field name or an expression")
        if filter is not None and not isinstance(filter, Q):
            raise TypeError(f"{type(self).__name__}(filter=...) takes a Q object")
        self.expression = "*" if star else as_expression(expression)
        self.distinct = distinct
        self.filter = filter
        self.default = default

    def refs(self) -> Any:
        # An aggregate reads its own rows (a subquery or the grouped join), not the outer row.
        return iter(())

    def default_alias(self) -> str:
        """Django's name for a positional aggregate: ``Count("books")`` -> ``books__count``."""
        if isinstance(self.expression, F):
            return f"{self.expression.name}__{self.function.lower()}"
        raise TypeError(f"{type(self).__name__} over an expression needs a name: annotate(name=...)")

    def resolve(self, resolver: Resolver) -> ColumnElement[Any]:
        return resolver.aggregate(self)

    def sql(self, resolver: Resolver) -> ColumnElement[Any]:
        """The aggregate function call, its argument resolved where the rows are."""
        if isinstance(self.expression, str):
            argument: Any = None
        else:
            argument = resolve_operand(self.expression, resolver)
        condition = resolver.condition(self.filter) if self.filter is not None else None
        result = self.call(argument, condition)
        if self.default is not None:
            result = sa.func.coalesce(result, resolve_operand(self.default, resolver, result), type_=result.type)
        return result

    def _argument(self, argument: Any, condition: Any) -> Any:
        if argument is None:
            argument = sa.literal_column("1") if condition is not None else sa.literal_column("*")
        if condition is not None:
            argument = sa.case((condition, argument))
        return sa.distinct(argument) if self.distinct else argument

    def call(self, argument: Any, condition: Any) -> ColumnElement[Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r})"


class Count(Aggregate):
    function = "COUNT"
    allows_star = True

    def __init__(self, expression: Any = "*", **options: Any) -> None:
        super().__init__(expression, **options)

    def call(self, argument: Any, condition: Any) -> ColumnElement[Any]:
        if argument is not None and self.distinct:
            argument = comparable(argument)
        return sa.func.count(self._argument(argument, condition), type_=sa.Integer())


class Sum(Aggregate):
    function = "SUM"

    def call(self, argument: Any, condition: Any) -> ColumnElement[Any]:
        source = argument.type
        total = sa.func.sum(self._argument(argument, condition), type_=source)
        if _is_integer(_base(source)) and not isinstance(source, sa.TypeDecorator):
            return sa.cast(total, sa.BigInteger())
        return total


class Avg(Aggregate):
    function = "AVG"

    def call(self, argument: Any, condition: Any) -> ColumnElement[Any]:
        source = argument.type
        if _is_decimal(source):
            scale = getattr(_base(source), "scale", None) or 0
            return sa.func.avg(self._argument(argument, condition), type_=_AvgDecimal(scale + 4))
        if _is_integer(_base(source)) or isinstance(_base(source), sa.Float):
            argument = sa.cast(argument, sa.Double())
        return sa.func.avg(self._argument(argument, condition), type_=sa.Double())


class Min(Aggregate):
    function = "MIN"

    def call(self, argument: Any, condition: Any) -> ColumnElement[Any]:
        return sa.func.min(self._argument(comparable(argument), condition), type_=argument.type)


class Max(Aggregate):
    function = "MAX"

    def call(self, argument: Any, condition: Any) -> ColumnElement[Any]:
        return sa.func.max(self._argument(comparable(argument), condition), type_=argument.type)
