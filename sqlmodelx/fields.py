"""Field specifications and the mapping from Python annotations to SQLAlchemy types (L1).

``Field``, ``ForeignKey``, ``OneToOne``, ``ManyToMany`` and ``VersionField`` only record
what the user declared; :mod:`sqlmodelx.model` turns the records into columns, tables and
per-model plans when the class is created.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

import sqlalchemy as sa

from ._typing import MISSING
from .types import DecimalType, Duration, PreciseTime, UTCDateTime, json_type

__all__ = [
    "FieldInfo",
    "ForeignKeyInfo",
    "ManyToManyInfo",
    "Field",
    "ForeignKey",
    "OneToOne",
    "ManyToMany",
    "VersionField",
    "utcnow",
    "OnDelete",
]

OnDelete = Literal["CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION", "PROTECT"]
_ON_DELETE = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION", "PROTECT"}
_ON_UPDATE = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"}


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime (use as ``default_factory=sx.utcnow``)."""
    return dt.datetime.now(dt.UTC)


@dataclass(eq=False)
class FieldInfo:
    """What a user declared for one column field."""

    default: Any = MISSING
    default_factory: Callable[[], Any] | None = None
    primary_key: bool = False
    autoincrement: bool | Literal["auto"] = "auto"
    index: bool = False
    unique: bool = False
    nullable: bool | None = None
    max_length: int | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    ge: Any = None
    le: Any = None
    choices: tuple[Any, ...] | None = None
    db_column: str | None = None
    server_default: Any = None
    comment: str | None = None
    sa_type: Any = None
    sa_column: sa.Column[Any] | None = None
    version: bool = False

    def has_default(self) -> bool:
        return self.default is not MISSING or self.default_factory is not None


@dataclass(eq=False)
class ForeignKeyInfo:
    """A to-one relation: a ``<name>_id`` column plus a relation attribute ``<name>``."""

    to: Any = None
    on_delete: str | None = None
    on_update: str | None = None
    related_name: str | None = None
    to_field: str | None = None
    db_column: str | None = None
    index: bool = True
    unique: bool = False
    primary_key: bool = False
    default: Any = MISSING
    nullable: bool | None = None


@dataclass(eq=False)
class ManyToManyInfo:
    """A many-to-many relation, through an association table made for you or a model."""

    to: Any = None
    related_name: str | None = None
    through: Any = None
    db_table: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def Field(  # noqa: N802 - field specifier, spelled like a class on purpose
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    primary_key: bool = False,
    autoincrement: bool | Literal["auto"] = "auto",
    index: bool = False,
    unique: bool = False,
    nullable: bool | None = None,
    max_length: int | None = None,
    max_digits: int | None = None,
    decimal_places: int | None = None,
    ge: Any = None,
    le: Any = None,
    choices: Any = None,
    db_column: str | None = None,
    server_default: Any = None,
    comment: str | None = None,
    sa_type: Any = None,
    sa_column: sa.Column[Any] | None = None,
) -> Any:
    """Declare a column field. Returns ``Any`` so ``x: int = Field(...)`` type-checks."""
    if default is not MISSING and default_factory is not None:
        raise TypeError("Field() takes default or default_factory, not both")
    return FieldInfo(
        default=default,
        default_factory=default_factory,
        primary_key=primary_key,
        autoincrement=autoincrement,
        index=index,
        unique=unique,
        nullable=nullable,
        max_length=max_length,
        max_digits=max_digits,
        decimal_places=decimal_places,
        ge=ge,
        le=le,
        choices=tuple(choices) if choices is not None else None,
        db_column=db_column,
        server_default=server_default,
        comment=comment,
        sa_type=sa_type,
        sa_column=sa_column,
    )


def VersionField() -> Any:  # noqa: N802
    """An integer version column for optimistic locking, starting at 1."""
    return FieldInfo(default=1, version=True)


def _check_action(kind: str, value: str | None, allowed: set[str]) -> str | None:
    if value is None:
        return None
    normal = value.upper().replace("_", " ")
    if normal not in allowed:
        raise ValueError(f"{kind}={value!r} is not one of {', '.join(sorted(allowed))}")
    return normal


def ForeignKey(  # noqa: N802
    to: Any = None,
    *,
    on_delete: str | None = None,
    on_update: str | None = None,
    related_name: str | None = None,
    to_field: str | None = None,
    db_column: str | None = None,
    index: bool = True,
    unique: bool = False,
    primary_key: bool = False,
    default: Any = MISSING,
) -> Any:
    """A to-one relation. ``to`` defaults to the annotation (``author: Author = ForeignKey()``)."""
    return ForeignKeyInfo(
        to=to,
        on_delete=_check_action("on_delete", on_delete, _ON_DELETE),
        on_update=_check_action("on_update", on_update, _ON_UPDATE),
        related_name=related_name,
        to_field=to_field,
        db_column=db_column,
        index=index,
        unique=unique,
        primary_key=primary_key,
        default=default,
    )


def OneToOne(  # noqa: N802
    to: Any = None,
    *,
    on_delete: str | None = None,
    on_update: str | None = None,
    related_name: str | None = None,
    to_field: str | None = None,
    db_column: str | None = None,
    primary_key: bool = False,
) -> Any:
    """A to-one relation whose column is unique: the reverse side is a single object."""
    return ForeignKey(
        to,
        on_delete=on_delete,
        on_update=on_update,
        related_name=related_name,
        to_field=to_field,
        db_column=db_column,
        unique=True,
        primary_key=primary_key,
    )


def ManyToMany(  # noqa: N802
    to: Any = None,
    *,
    related_name: str | None = None,
    through: Any = None,
    db_table: str | None = None,
    through_fields: tuple[str, str] | None = None,
) -> Any:
    """A many-to-many relation; the association table is made unless ``through`` is given.

    ``through_fields=(source, target)`` names the through model's two foreign keys when it
    has more than one to either end (a self-referencing relation, for instance).
    """
    extra = {} if through_fields is None else {"through_fields": tuple(through_fields)}
    return ManyToManyInfo(to=to, related_name=related_name, through=through, db_table=db_table, extra=extra)


# --------------------------------------------------------------------------- annotations


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(annotation, False)``."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(args) != len(get_args(annotation))
        if len(args) == 1:
            return args[0], nullable
        return Union[tuple(args)], nullable  # noqa: UP007 - rebuilt dynamically
    return annotation, False


def sa_type_for(annotation: Any, info: FieldInfo) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type for a Python annotation; raises ``TypeError`` when there is none."""
    base = get_origin(annotation) or annotation
    if isinstance(base, type):
        if issubclass(base, bool):
            return sa.Boolean()
        if issubclass(base, enum.Enum):
            return sa.Enum(
                base,
                name=_snake(base.__name__),
                values_callable=_enum_values,
                validate_strings=True,
            )
        if issubclass(base, int):
            return sa.Integer()
        if issubclass(base, str):
            return sa.String(info.max_length) if info.max_length else sa.Text()
        if issubclass(base, float):
            return sa.Double()
        if issubclass(base, decimal.Decimal):
            if info.max_digits is None or info.decimal_places is None:
                raise TypeError("Decimal fields need max_digits= and decimal_places=")
            return DecimalType(info.max_digits, info.decimal_places)
        if issubclass(base, dt.datetime):
            return UTCDateTime()
        if issubclass(base, dt.date):
            return sa.Date()
        if issubclass(base, dt.time):
            return PreciseTime()
        if issubclass(base, dt.timedelta):
            return Duration()
        if issubclass(base, bytes):
            return sa.LargeBinary(info.max_length) if info.max_length else sa.LargeBinary()
        if issubclass(base, uuid.UUID):
            return sa.Uuid()
        if issubclass(base, (dict, list)):
            return json_type()
    raise TypeError(f"no column type for annotation {annotation!r}")


def _enum_values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_cls]


_SNAKE_1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE_2 = re.compile(r"([a-z0-9])([A-Z])")


def _snake(name: str) -> str:
    return _SNAKE_2.sub(r"\1_\2", _SNAKE_1.sub(r"\1_\2", name)).lower()


snake_case = _snake
