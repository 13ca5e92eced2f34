"""Per-field value coercion and checks, built once per field at class creation (L1).

A coercer takes a value and returns the value to store, or raises ``ValueError`` whose
message ends up in :class:`sqlmodelx.ValidationError`. Rows read from the database never
pass through here (the driver and the column type already produced the right Python value).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Callable
from typing import Any, get_origin

from .fields import FieldInfo

Coercer = Callable[[Any], Any]


def _type_name(value: Any) -> str:
    return type(value).__name__


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a bool, got {_type_name(value)}")


def _coerce_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an int, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected an int, got {_type_name(value)} {value!r}")


def _coerce_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a float, got bool")
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"expected a float, got {_type_name(value)} {value!r}")


def _coerce_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value.value
    raise ValueError(f"expected a str, got {_type_name(value)}")


def _coerce_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ValueError(f"expected bytes, got {_type_name(value)}")


def _coerce_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValueError(f"expected a UUID, got {_type_name(value)} {value!r}")


def _coerce_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 datetime: {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"expected a datetime, got {_type_name(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "naive datetime: attach a time zone (datetime.now(timezone.utc) or sx.utcnow())"
        )
    return value


def _coerce_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date, got datetime (use .date())")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"expected a date, got {_type_name(value)} {value!r}")


def _coerce_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"expected a time, got {_type_name(value)} {value!r}")


def _coerce_timedelta(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    raise ValueError(f"expected a timedelta, got {_type_name(value)}")


def _decimal_coercer(info: FieldInfo) -> Coercer:
    max_digits = info.max_digits
    places = info.decimal_places

    def coerce(value: Any) -> decimal.Decimal:
        if isinstance(value, bool):
            raise ValueError("expected a Decimal, got bool")
        if isinstance(value, float):
            value = decimal.Decimal(repr(value))
        elif isinstance(value, (int, str)):
            try:
                value = decimal.Decimal(value)
            except decimal.InvalidOperation:
                raise ValueError(f"not a number: {value!r}") from None
        elif not isinstance(value, decimal.Decimal):
            raise ValueError(f"expected a Decimal, got {_type_name(value)}")
        if not value.is_finite():
            raise ValueError("must be a finite number")
        # Django's DecimalValidator: count digits before and after the point.
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        if exponent >= 0:
            whole, frac = len(digits) + exponent, 0
        else:
            frac = -exponent
            whole = max(len(digits) - frac, 0)
        if places is not None and frac > places:
            raise ValueError(f"at most {places} decimal places allowed, got {frac}")
        if max_digits is not None and places is not None and whole > max_digits - places:
            raise ValueError(
                f"at most {max_digits - places} digits before the decimal point allowed, got {whole}"
            )
        checked: decimal.Decimal = value
        return checked

    return coerce


def _enum_coercer(enum_cls: type[enum.Enum]) -> Coercer:
    names = ", ".join(repr(m.value) for m in enum_cls)

    def coerce(value: Any) -> enum.Enum:
        if isinstance(value, enum_cls):
            return value
        try:
            return enum_cls(value)
        except ValueError:
            raise ValueError(f"not a member of {enum_cls.__name__} (values: {names})") from None

    return coerce


def _instance_coercer(kind: type) -> Coercer:
    def coerce(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        raise ValueError(f"expected {kind.__name__}, got {_type_name(value)}")

    return coerce


_SIMPLE: list[tuple[type, Coercer]] = [
    (bool, _coerce_bool),
    (int, _coerce_int),
    (str, _coerce_str),
    (float, _coerce_float),
    (dt.datetime, _coerce_datetime),
    (dt.date, _coerce_date),
    (dt.time, _coerce_time),
    (dt.timedelta, _coerce_timedelta),
    (bytes, _coerce_bytes),
    (uuid.UUID, _coerce_uuid),
]


def _base_coercer(annotation: Any, info: FieldInfo) -> Coercer | None:
    base = get_origin(annotation) or annotation
    if not isinstance(base, type):
        return None
    if issubclass(base, enum.Enum):
        return _enum_coercer(base)
    if issubclass(base, decimal.Decimal):
        return _decimal_coercer(info)
    if issubclass(base, (dict, list)):
        return _instance_coercer(base)
    for kind, coercer in _SIMPLE:
        if issubclass(base, kind):
            return coercer
    return None


def _to_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a Decimal, got bool")
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    try:
        converted: decimal.Decimal = decimal.Decimal(value)
        return converted
    except (decimal.InvalidOperation, TypeError):
        raise ValueError(f"expected a Decimal, got {_type_name(value)} {value!r}") from None


def value_converter(annotation: Any, info: FieldInfo) -> Coercer | None:
    """Type conversion only (no length, bounds or choices): for values compared in filters."""
    if info.sa_type is not None:
        return None
    base = get_origin(annotation) or annotation
    if isinstance(base, type) and issubclass(base, decimal.Decimal):
        return _to_decimal
    return _base_coercer(annotation, info)


#: Coercers that return a value of exactly this type unchanged (and raise nothing).
_PASSTHROUGH: dict[Coercer, type] = {
    _coerce_bool: bool,
    _coerce_int: int,
    _coerce_str: str,
    _coerce_float: float,
    _coerce_date: dt.date,
    _coerce_time: dt.time,
    _coerce_timedelta: dt.timedelta,
    _coerce_bytes: bytes,
    _coerce_uuid: uuid.UUID,
}


def passthrough_test(annotation: Any, info: FieldInfo, nullable: bool) -> tuple[str, type, Any] | None:
    """A Python expression that is true only for values that ``build_coercer(annotation,
    info, nullable)`` returns unchanged without raising, with what its ``{T}`` (the exact
    type) and ``{N}`` (the maximum length) stand for; None when the field has rules that
    need its coercer (bounds, choices, ``sa_type``, datetimes, ...).

    The expression is a ``str.format`` template: ``{v}`` is the value, ``{T}`` and ``{N}``
    the names the caller binds to the type and the length, ``{type}`` and ``{len}`` the
    names it binds to those builtins. Generated constructors test it inline and call the
    coercer only when it is false, so a value it accepts is stored exactly as the coercer
    would have stored it.
    """
    if info.sa_type is not None or info.ge is not None or info.le is not None or info.choices is not None:
        return None
    base = _base_coercer(annotation, info)
    kind = _PASSTHROUGH.get(base) if base is not None else None
    if kind is None:
        return None
    test = "{type}({v}) is {T}"
    if info.max_length is not None and kind in (str, bytes):
        test += " and {len}({v}) <= {N}"
    if nullable:
        test = f"{{v}} is None or ({test})"
    return test, kind, info.max_length


def build_coercer(annotation: Any, info: FieldInfo, nullable: bool) -> Coercer:
    """One function that coerces and checks every rule declared for a field."""
    base = _base_coercer(annotation, info) if info.sa_type is None else None
    max_length = info.max_length
    ge, le, choices = info.ge, info.le, info.choices

    def coerce(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise ValueError("may not be None (declare the field as `X | None` to allow NULL)")
        if base is not None:
            value = base(value)
        if max_length is not None and isinstance(value, (str, bytes)) and len(value) > max_length:
            raise ValueError(f"at most {max_length} characters allowed, got {len(value)}")
        if ge is not None and value < ge:
            raise ValueError(f"must be >= {ge!r}")
        if le is not None and value > le:
            raise ValueError(f"must be <= {le!r}")
        if choices is not None and value not in choices:
            raise ValueError(f"must be one of {list(choices)!r}")
        return value

    return coerce
