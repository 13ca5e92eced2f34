"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB (L1).

Each one is a SQLAlchemy ``TypeDecorator``, so it works in plain Core code as well, and
Alembic renders it as ``sqlmodelx.types.X(...)`` (see ``docs/migrations.md``).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = ["UTCDateTime", "Duration", "PreciseTime", "JSONType", "DecimalType", "json_type"]

_UTC = dt.UTC


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored as UTC and returned as aware UTC on every backend.

    PostgreSQL keeps ``timestamptz``; MySQL/MariaDB and SQLite have no time zone in the
    column, so the value is converted to UTC and stored naive (MySQL with microseconds,
    ``DATETIME(6)``). Naive datetimes are refused: their instant is unknown.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(
                "naive datetime: attach a time zone (datetime.now(timezone.utc) or sx.utcnow())"
            )
        value = value.astimezone(_UTC)
        if dialect.name != "postgresql":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite expressions (e.g. MAX()) may return text
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC)


class PreciseTime(sa.TypeDecorator[dt.time]):
    """A time of day with microseconds on every backend (MySQL needs ``TIME(6)``)."""

    impl = sa.Time
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.TIME(fsp=6))
        return dialect.type_descriptor(sa.Time())


class Duration(sa.TypeDecorator[dt.timedelta]):
    """A ``timedelta``: native ``INTERVAL`` on PostgreSQL, microseconds in a BIGINT elsewhere.

    This is Django's ``DurationField`` storage; it keeps microseconds and negative values.
    """

    impl = sa.BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.INTERVAL())
        return dialect.type_descriptor(sa.BigInteger())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or isinstance(value, dt.timedelta):
            return value
        return dt.timedelta(microseconds=int(value))


class DecimalType(sa.TypeDecorator[decimal.Decimal]):
    """``NUMERIC(p, s)`` that returns ``Decimal`` at the declared scale on every backend.

    SQLite has no decimal storage (it keeps a REAL, as Django's SQLite backend does); the
    value read back is quantized to the declared scale.
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self._precision = precision
        self._scale = scale
        self._quantum = decimal.Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(self._precision, self._scale, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(self._precision, self._scale))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None and dialect.name == "sqlite":
            return float(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, decimal.Decimal):
            value = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
        return value.quantize(self._quantum)


def json_type() -> TypeEngine[Any]:
    """JSON everywhere, ``JSONB`` on PostgreSQL (``json`` has no equality operator there).

    ``None`` is stored as SQL NULL (as Django's nullable JSONField), so ``filter(data=None)``
    and ``data__isnull=True`` find it; a JSON ``null`` inside a document is still JSON.
    """
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


JSONType = json_type
