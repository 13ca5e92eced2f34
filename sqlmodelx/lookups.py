"""The lookup registry: ``name__icontains="an"`` -> a Core condition (L3).

A lookup is one small class: a ``name`` and a ``build(column, value)`` returning a Core
boolean expression. Register your own with :func:`register_lookup`::

    @sx.register_lookup
    class NotEqual(sx.Lookup):
        name = "ne"
        def build(self, column, value):
            return column != value
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["Lookup", "register_lookup", "get_lookup", "lookup_names"]

_registry: dict[str, Lookup] = {}


class Lookup:
    """Base class of lookups. Subclasses set ``name`` and implement ``build``."""

    name: ClassVar[str] = ""
    #: Whether the value is bound with the column's type (False for e.g. ``isnull``).
    bind_as_column: ClassVar[bool] = True

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        raise NotImplementedError


def register_lookup(cls: type[Lookup]) -> type[Lookup]:
    """Class decorator: make ``field__<cls.name>=value`` available on every field."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    _registry[cls.name] = cls()
    return cls


def get_lookup(name: str) -> Lookup | None:
    return _registry.get(name)


def lookup_names() -> list[str]:
    return sorted(_registry)


@register_lookup
class Exact(Lookup):
    name = "exact"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if value is None:
            return column.is_(None)
        return column == value


@register_lookup
class In(Lookup):
    name = "in"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if isinstance(value, sa.Select):
            return column.in_(value)
        values = [v for v in value if v is not None]
        return column.in_(values)


@register_lookup
class GreaterThan(Lookup):
    name = "gt"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return column > value


@register_lookup
class GreaterThanOrEqual(Lookup):
    name = "gte"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return column >= value


@register_lookup
class LessThan(Lookup):
    name = "lt"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return column < value


@register_lookup
class LessThanOrEqual(Lookup):
    name = "lte"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return column <= value


@register_lookup
class IsNull(Lookup):
    name = "isnull"
    bind_as_column = False

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if not isinstance(value, bool):
            raise ValueError("isnull takes True or False")
        return column.is_(None) if value else column.is_not(None)


@register_lookup
class Range(Lookup):
    name = "range"

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        low, high = value
        return column.between(low, high)
