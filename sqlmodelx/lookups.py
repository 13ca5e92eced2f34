"""Lookups and transforms: ``name__icontains="an"`` -> a Core condition, alike on every backend (L3).

A lookup is one small class: a ``name`` and a ``build(column, value)`` returning a Core
boolean expression. A transform (``created__year``) turns a column into another
expression that further lookups apply to. Register your own with :func:`register_lookup`::

    @sx.register_lookup
    class NotEqual(sx.Lookup):
        name = "ne"
        def build(self, column, value):
            return column != value

Where the backends disagree (case rules, LIKE escaping, date parts in UTC, JSON paths,
collations), the SQL is a small Core element compiled per dialect with ``@compiles``
(NOTES.md sections 2, 3 and 10). Values are always bound parameters; the few fixed tokens
(an escape character, a collation name) are rendered by the dialect's own literal renderer.
Nothing here knows about a connection.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from .exc import NotSupportedError
from .types import PreciseTime, UTCDateTime

__all__ = [
    "Lookup",
    "Transform",
    "register_lookup",
    "get_lookup",
    "get_transform",
    "lookup_names",
    "JsonKey",
    "comparable",
    "is_text",
]

_lookups: dict[str, Lookup] = {}
_transforms: dict[str, Transform] = {}

#: MariaDB's default collations ignore case, accents and trailing spaces; this one does not.
BINARY_COLLATION = "utf8mb4_nopad_bin"


class Lookup:
    """Base class of lookups. Subclasses set ``name`` and implement ``build``.

    ``build(column, value)`` receives the column (or transformed expression) and the
    value: a plain Python value already converted by the field's type (when
    ``bind_as_column``), or a Core expression when the query passed ``F(...)`` or a
    subquery.
    """

    name: ClassVar[str] = ""
    #: Whether the value is converted by the field's type first (False for e.g. ``isnull``).
    bind_as_column: ClassVar[bool] = True
    #: True when ``None`` is a meaningful value (``exact``/``iexact``: IS NULL).
    accepts_none: ClassVar[bool] = False

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        """The value to build with: converted by the field's type where that applies."""
        if value is None:
            if not self.accepts_none:
                raise ValueError(f"cannot use None with the {self.name!r} lookup (use isnull=True)")
            return None
        if convert is not None and self.bind_as_column:
            return convert(value)
        return value

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        raise NotImplementedError

    def null_row(self, value: Any) -> bool:
        """The lookup's answer on a NULL column (a missing related row): True or not."""
        return False


class Transform:
    """Base class of transforms: ``created__year`` -> ``Year(created)``.

    ``applies_to(type)`` says which column types the transform is for; ``output`` is the
    Python type values compared with the result are converted to.
    """

    name: ClassVar[str] = ""
    output: ClassVar[type | None] = None

    def applies_to(self, type_: Any) -> bool:
        return True

    def build(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        raise NotImplementedError


def register_lookup(cls: type[Any]) -> type[Any]:
    """Class decorator: make ``field__<cls.name>=value`` (a lookup or a transform) available."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__} needs a name")
    if "__" in cls.name or not cls.name.isidentifier():
        raise ValueError(f"{cls.__name__}.name must be an identifier without '__', got {cls.name!r}")
    if issubclass(cls, Transform):
        _transforms[cls.name] = cls()
    elif issubclass(cls, Lookup):
        _lookups[cls.name] = cls()
    else:
        raise TypeError(f"{cls.__name__} is neither a sx.Lookup nor a sx.Transform")
    return cls


def get_lookup(name: str) -> Lookup | None:
    return _lookups.get(name)


def get_transform(name: str, type_: Any = None) -> Transform | None:
    transform = _transforms.get(name)
    if transform is None or (type_ is not None and not transform.applies_to(type_)):
        return None
    return transform


def lookup_names() -> list[str]:
    return sorted(_lookups)


def transform_names(type_: Any = None) -> list[str]:
    return sorted(n for n, t in _transforms.items() if type_ is None or t.applies_to(type_))


# --------------------------------------------------------------------------- type helpers


def is_text(type_: Any) -> bool:
    """A character column (Enum excluded: it keeps its own order and comparison)."""
    return isinstance(type_, sa.String) and not isinstance(type_, sa.Enum)


def is_json(type_: Any) -> bool:
    if isinstance(type_, sa.TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, sa.JSON)


def _is_expression(value: Any) -> bool:
    return isinstance(value, sa.ColumnElement) or hasattr(value, "__clause_element__")


class _Element(FunctionElement[Any]):
    """Base of the per-dialect elements below: rendered by ``@compiles`` functions only."""

    inherit_cache = True

    def args(self) -> list[Any]:
        return list(self.clauses)


def _render(compiler: Any, element: Any, **kw: Any) -> str:
    return str(compiler.process(element, **kw))


def _literal(compiler: Any, value: str) -> str:
    """A fixed token (never user input) as a literal of this dialect."""
    return str(compiler.render_literal_value(value, sa.String()))


# --------------------------------------------------------------------------- collation


class BinaryText(_Element):
    """A string expression compared and sorted by code point (MariaDB: binary, no-pad)."""

    inherit_cache = True

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)
        self.type = expression.type


@compiles(BinaryText)
def _binary_text(element: BinaryText, compiler: Any, **kw: Any) -> str:
    return _render(compiler, element.args()[0], **kw)


@compiles(BinaryText, "mysql")
def _binary_text_mysql(element: BinaryText, compiler: Any, **kw: Any) -> str:
    return f"({_render(compiler, element.args()[0], **kw)} COLLATE {BINARY_COLLATION})"


def comparable(expression: Any) -> Any:
    """``expression`` made to compare like Python strings on every backend (text only)."""
    if isinstance(expression, sa.ColumnElement) and is_text(expression.type):
        return BinaryText(expression)
    return expression


class StrictEquals(_Element):
    """``a = b`` by code point; MariaDB keeps ``a = b`` too so an index still serves it."""

    inherit_cache = True

    type = sa.Boolean()


@compiles(StrictEquals)
def _strict_equals(element: StrictEquals, compiler: Any, **kw: Any) -> str:
    left, right = element.args()
    return _render(compiler, left == right, **kw)


@compiles(StrictEquals, "mysql")
def _strict_equals_mysql(element: StrictEquals, compiler: Any, **kw: Any) -> str:
    left, right = element.args()
    both = sa.and_(left == right, sa.collate(left, BINARY_COLLATION) == right)
    return f"({_render(compiler, both, **kw)})"


def _equals(left: Any, right: Any) -> ColumnElement[bool]:
    if isinstance(left, sa.ColumnElement) and is_text(left.type):
        return StrictEquals(left, right)
    return left == right  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- text matching


class TextMatch(_Element):
    """``lhs`` equals / contains / starts with / ends with ``needle``, wildcards taken literally.

    PostgreSQL and MariaDB: ``LIKE`` with ``!`` as the escape character; MariaDB compares in
    a binary collation. SQLite: ``GLOB`` (its LIKE ignores ASCII case) with ``*``, ``?`` and
    ``[`` escaped as classes. A string needle is escaped when bound (:class:`Pattern`); an
    expression needle (``F()``) is escaped in SQL. Case-insensitive forms lower both sides
    (SQLite: ``py_lower``, Python's own ``lower``).
    """

    inherit_cache = True

    type = sa.Boolean()
    kind: ClassVar[str] = "contains"
    ci: ClassVar[bool] = False


def _match_class(kind: str, ci: bool) -> type[TextMatch]:
    name = ("I" if ci else "") + kind.title().replace("with", "With") + "Match"
    return type(name, (TextMatch,), {"kind": kind, "ci": ci, "inherit_cache": True})


_MATCHES = {(k, ci): _match_class(k, ci) for k in ("exact", "contains", "startswith", "endswith") for ci in (False, True)}


def _wrap(kind: str, pattern: Any, wildcard: str) -> Any:
    if kind in ("contains", "endswith"):
        pattern = wildcard + pattern if isinstance(pattern, str) else sa.literal(wildcard) + pattern
    if kind in ("contains", "startswith"):
        pattern = pattern + wildcard if isinstance(pattern, str) else pattern + sa.literal(wildcard)
    return pattern


def _like_escape(text: Any) -> Any:
    if isinstance(text, str):
        return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return sa.func.replace(sa.func.replace(sa.func.replace(text, "!", "!!"), "%", "!%"), "_", "!_")


def _glob_escape(text: Any) -> Any:
    if isinstance(text, str):
        return text.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")
    return sa.func.replace(sa.func.replace(sa.func.replace(text, "[", "[[]"), "*", "[*]"), "?", "[?]")


class Pattern(sa.TypeDecorator[str]):
    """A needle given as a string, bound as the finished pattern of this dialect.

    Escaped and wrapped in Python when bound (``LIKE`` with ``!`` as escape character, or
    SQLite's ``GLOB``), so the pattern is a plain parameter an index can serve.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return _wrap(self.kind, _glob_escape(value), "*")
        return _wrap(self.kind, _like_escape(value), "%")

    def process_literal_param(self, value: Any, dialect: Any) -> Any:
        return self.process_bind_param(value, dialect)


def _text_operands(element: TextMatch, lower: Callable[[Any], Any], glob: bool) -> tuple[Any, Any]:
    """The column as text and the needle made a pattern (except for ``exact``), lowered if ci."""
    lhs, needle = element.args()
    lhs = sa.type_coerce(lhs, sa.String()) if is_text(lhs.type) else sa.cast(lhs, sa.String())
    if element.kind != "exact" and not isinstance(needle.type, Pattern):
        # An expression (F()): escaped and wrapped in SQL.
        escape = _glob_escape if glob else _like_escape
        needle = _wrap(element.kind, escape(sa.type_coerce(needle, sa.String())), "*" if glob else "%")
    elif not isinstance(needle.type, (Pattern, sa.String)):
        needle = sa.type_coerce(needle, sa.String())
    if element.ci:
        return lower(lhs), lower(needle)
    return lhs, needle


@compiles(TextMatch)
def _text_match(element: TextMatch, compiler: Any, **kw: Any) -> str:
    lhs, needle = _text_operands(element, sa.func.lower, glob=False)
    if element.kind == "exact":
        return f"({_render(compiler, lhs == needle, **kw)})"
    return f"({_render(compiler, lhs.like(needle, escape='!'), **kw)})"


@compiles(TextMatch, "mysql")
def _text_match_mysql(element: TextMatch, compiler: Any, **kw: Any) -> str:
    lhs, needle = _text_operands(element, sa.func.lower, glob=False)
    if element.kind == "exact":
        return f"({_render(compiler, sa.collate(lhs, BINARY_COLLATION) == needle, **kw)})"
    like = sa.collate(lhs, "utf8mb4_bin").like(needle, escape="!")
    return f"({_render(compiler, like, **kw)})"


@compiles(TextMatch, "sqlite")
def _text_match_sqlite(element: TextMatch, compiler: Any, **kw: Any) -> str:
    lhs, needle = _text_operands(element, sa.func.py_lower, glob=True)
    if element.kind == "exact":
        return f"({_render(compiler, lhs == needle, **kw)})"
    return f"({_render(compiler, lhs.op('GLOB')(needle), **kw)})"


# --------------------------------------------------------------------------- long IN lists

#: Above this many values, ``in`` binds ONE parameter (asyncpg stops at 32,767 of them,
#: an SQLite build may stop at 32,766): NOTES.md section 8.
LONG_IN = 1000


def _one_parameter_type(type_: Any) -> Any:
    """The element type a list of this column's values can be bound as, or None."""
    if isinstance(type_, sa.Integer) and not isinstance(type_, sa.TypeDecorator):
        return sa.BigInteger()
    if is_text(type_) and not isinstance(type_, sa.TypeDecorator):
        return sa.Text()
    return None


class _ListParam(sa.TypeDecorator[Any]):
    """A list bound as one value: an array on PostgreSQL, JSON text on SQLite."""

    impl = sa.String
    cache_ok = True

    def __init__(self, item_type: Any) -> None:
        super().__init__()
        self.item_type = _one_parameter_type(item_type)

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item_type))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return value if dialect.name == "postgresql" else json.dumps(value)


class InList(_Element):
    """``column IN (values)`` with the values in one parameter (long lists)."""

    inherit_cache = True
    type = sa.Boolean()


@compiles(InList)
def _in_list(element: InList, compiler: Any, **kw: Any) -> str:
    column, values = element.args()
    return f"({_render(compiler, column, **kw)} = ANY({_render(compiler, values, **kw)}))"


@compiles(InList, "sqlite")
def _in_list_sqlite(element: InList, compiler: Any, **kw: Any) -> str:
    column, values = element.args()
    listed: Any = sa.select(sa.column("value")).select_from(sa.func.json_each(values))
    return f"({_render(compiler, column.in_(listed), **kw)})"


@compiles(InList, "mysql")
def _in_list_mysql(element: InList, compiler: Any, **kw: Any) -> str:
    column, values = element.args()
    if is_text(column.type):
        column, kind = BinaryText(column), f"LONGTEXT CHARACTER SET utf8mb4 COLLATE {BINARY_COLLATION}"
    else:
        kind = "BIGINT"
    table = (
        f"JSON_TABLE({_render(compiler, values, **kw)}, {_literal(compiler, '$[*]')} "
        f"COLUMNS (value {kind} PATH {_literal(compiler, '$')})) AS listed"
    )
    return f"({_render(compiler, column, **kw)} IN (SELECT listed.value FROM {table}))"


# --------------------------------------------------------------------------- regex


class RegexMatch(_Element):
    """``lhs`` matches a regular expression (each backend's own dialect of regex)."""

    inherit_cache = True

    type = sa.Boolean()
    ci: ClassVar[bool] = False


class IRegexMatch(RegexMatch):
    inherit_cache = True
    ci = True


@compiles(RegexMatch)
def _regex(element: RegexMatch, compiler: Any, **kw: Any) -> str:
    lhs, pattern = element.args()
    op = "~*" if element.ci else "~"
    return f"({_render(compiler, lhs, **kw)} {op} {_render(compiler, pattern, **kw)})"


@compiles(RegexMatch, "mysql")
def _regex_mysql(element: RegexMatch, compiler: Any, **kw: Any) -> str:
    lhs, pattern = element.args()
    if element.ci:
        pattern = sa.func.concat("(?i)", pattern)
    return f"({_render(compiler, sa.collate(lhs, BINARY_COLLATION), **kw)} REGEXP {_render(compiler, pattern, **kw)})"


@compiles(RegexMatch, "sqlite")
def _regex_sqlite(element: RegexMatch, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy's SQLite dialect registers REGEXP as Python's re.search on every connection.
    lhs, pattern = element.args()
    if element.ci:
        pattern = sa.literal("(?i)") + sa.type_coerce(pattern, sa.String())
    return f"({_render(compiler, lhs, **kw)} REGEXP {_render(compiler, pattern, **kw)})"


# --------------------------------------------------------------------------- date parts


class DatePart(_Element):
    """One part of a date or datetime, taken in UTC on every backend (NOTES.md section 2)."""

    inherit_cache = True

    type = sa.Integer()
    part: ClassVar[str] = ""


def _utc(expression: Any) -> Any:
    """On PostgreSQL, a ``timestamptz`` seen as UTC wall time, whatever the session zone."""
    type_ = expression.type
    if isinstance(type_, UTCDateTime) or (isinstance(type_, sa.DateTime) and type_.timezone):
        return sa.func.timezone("UTC", expression)
    return expression


@compiles(DatePart)
def _date_part(element: DatePart, compiler: Any, **kw: Any) -> str:
    (expression,) = element.args()
    source = _utc(expression)
    if element.part == "week_day":
        value = sa.extract("dow", source) + 1
    else:
        # floor(): EXTRACT(second ...) has the fraction, which CAST would round.
        value = sa.func.floor(sa.extract(element.part, source))
    return _render(compiler, sa.cast(value, sa.Integer()), **kw)


_MYSQL_PARTS = {
    "year": "YEAR",
    "month": "MONTH",
    "day": "DAYOFMONTH",
    "hour": "HOUR",
    "minute": "MINUTE",
    "second": "SECOND",
    "quarter": "QUARTER",
    "week_day": "DAYOFWEEK",
}


@compiles(DatePart, "mysql")
def _date_part_mysql(element: DatePart, compiler: Any, **kw: Any) -> str:
    (expression,) = element.args()
    function = getattr(sa.func, _MYSQL_PARTS[element.part])
    return _render(compiler, function(expression), **kw)


_SQLITE_PARTS = {
    "year": "%Y",
    "month": "%m",
    "day": "%d",
    "hour": "%H",
    "minute": "%M",
    "second": "%S",
    "week_day": "%w",
    "quarter": "%m",
}


@compiles(DatePart, "sqlite")
def _date_part_sqlite(element: DatePart, compiler: Any, **kw: Any) -> str:
    (expression,) = element.args()
    value: Any = sa.cast(sa.func.strftime(_SQLITE_PARTS[element.part], expression), sa.Integer())
    if element.part == "week_day":
        value = value + 1
    elif element.part == "quarter":
        value = (value + 2) / 3
    return f"({_render(compiler, value, **kw)})"


class DateOf(_Element):
    """The UTC calendar date of a datetime."""

    inherit_cache = True

    type = sa.Date()


@compiles(DateOf)
def _date_of(element: DateOf, compiler: Any, **kw: Any) -> str:
    (expression,) = element.args()
    return _render(compiler, sa.cast(_utc(expression), sa.Date()), **kw)


@compiles(DateOf, "mysql")
@compiles(DateOf, "sqlite")
def _date_of_plain(element: DateOf, compiler: Any, **kw: Any) -> str:
    (expression,) = element.args()
    return _render(compiler, sa.func.date(expression), **kw)


# --------------------------------------------------------------------------- JSON


class JsonPath(sa.TypeDecorator[Any]):
    """A key path bound as one parameter: ``text[]`` on PostgreSQL, ``'$."a"[0]'`` elsewhere."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Text()))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        keys = [str(k) for k in value]
        if dialect.name == "postgresql":
            return keys
        if dialect.name == "sqlite" and any('"' in k for k in keys):
            raise NotSupportedError(
                f"sqlite: a JSON key containing a double quote cannot be written in a SQLite "
                f"JSON path (got {value!r}); PostgreSQL and MySQL/MariaDB support it"
            )
        return "$" + "".join(f"[{k}]" if k.isdigit() else "." + json.dumps(k) for k in keys)


class JsonParam(sa.TypeDecorator[Any]):
    """A value compared with JSON: JSON text on PostgreSQL and for documents, else the scalar."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if dialect.name == "postgresql" or isinstance(value, (dict, list)):
            return json.dumps(value)
        return value


class JsonKey:
    """``data__a__b``: a key path into a JSON column, before a lookup decides its SQL."""

    __slots__ = ("column", "keys")

    def __init__(self, column: ColumnElement[Any], keys: tuple[str, ...]) -> None:
        self.column = column
        self.keys = keys

    def child(self, key: str) -> JsonKey:
        return JsonKey(self.column, (*self.keys, key))

    def path(self) -> Any:
        return sa.bindparam(None, self.keys, type_=JsonPath())

    def text(self) -> ColumnElement[Any]:
        """The value at the path as SQL text (strings unquoted)."""
        return JsonText(self.column, self.path())

    def value(self) -> ColumnElement[Any]:
        """The value at the path as JSON, decoded into Python when read."""
        return JsonValue(self.column, self.path())

    def equals(self, value: Any) -> ColumnElement[bool]:
        if value is None:
            return JsonIsNull(self.column, self.path())
        if isinstance(value, bool):
            return (JsonIsTrue if value else JsonIsFalse)(self.column, self.path())
        if isinstance(value, (int, float)):
            kind: type[JsonEquals] = JsonEqualsNumber
        elif isinstance(value, str):
            kind = JsonEqualsString
        elif isinstance(value, (dict, list)):
            kind = JsonEqualsDocument
        else:
            raise ValueError(f"cannot compare a JSON value with {type(value).__name__}")
        return kind(self.column, self.path(), sa.bindparam(None, value, type_=JsonParam()))

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{op} on a JSON key takes a number or a string, got {type(value).__name__}")
        cls = _JSON_COMPARE[op]
        return cls(self.column, self.path(), sa.bindparam(None, value, type_=JsonParam()))  # type: ignore[no-any-return]

    def has_key(self) -> ColumnElement[bool]:
        return JsonHasKey(self.column, self.path())

    def contains(self, value: Any, reverse: bool = False) -> ColumnElement[bool]:
        cls = JsonContainedBy if reverse else JsonContains
        return cls(self.column, self.path(), sa.bindparam(None, value, type_=JsonParam()))


class JsonText(_Element):
    inherit_cache = True
    type = sa.String()


@compiles(JsonText)
def _json_text(element: JsonText, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return f"({_render(compiler, column, **kw)} #>> {_render(compiler, path, **kw)})"


@compiles(JsonText, "mysql")
def _json_text_mysql(element: JsonText, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return _render(compiler, sa.func.json_value(column, path), **kw)


@compiles(JsonText, "sqlite")
def _json_text_sqlite(element: JsonText, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return _render(compiler, sa.func.json_extract(column, path), **kw)


class JsonValue(_Element):
    inherit_cache = True
    type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


@compiles(JsonValue)
def _json_value(element: JsonValue, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return f"({_render(compiler, column, **kw)} #> {_render(compiler, path, **kw)})"


@compiles(JsonValue, "mysql")
def _json_value_mysql(element: JsonValue, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return _render(compiler, sa.func.json_extract(column, path), **kw)


@compiles(JsonValue, "sqlite")
def _json_value_sqlite(element: JsonValue, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return _render(compiler, sa.func.json_quote(sa.func.json_extract(column, path)), **kw)


class JsonEquals(_Element):
    """The value at a path equals a JSON scalar or document, with its JSON type respected."""

    inherit_cache = True

    type = sa.Boolean()
    kind: ClassVar[str] = ""


class JsonEqualsNumber(JsonEquals):
    inherit_cache = True
    kind = "number"


class JsonEqualsString(JsonEquals):
    inherit_cache = True
    kind = "string"


class JsonEqualsDocument(JsonEquals):
    inherit_cache = True
    kind = "document"


class JsonIsNull(JsonEquals):
    inherit_cache = True
    kind = "null"


class JsonIsTrue(JsonEquals):
    inherit_cache = True
    kind = "true"


class JsonIsFalse(JsonEquals):
    inherit_cache = True
    kind = "false"


def _pg_jsonb(compiler: Any, element: Any, **kw: Any) -> str:
    return f"CAST({_render(compiler, element, **kw)} AS JSONB)"


@compiles(JsonEquals)
def _json_equals(element: JsonEquals, compiler: Any, **kw: Any) -> str:
    column, path, *value = element.args()
    lhs = f"({_render(compiler, column, **kw)} #> {_render(compiler, path, **kw)})"
    if element.kind in ("null", "true", "false"):
        return f"({lhs} = CAST({_literal(compiler, element.kind)} AS JSONB))"
    return f"({lhs} = {_pg_jsonb(compiler, value[0], **kw)})"


@compiles(JsonEquals, "sqlite")
def _json_equals_sqlite(element: JsonEquals, compiler: Any, **kw: Any) -> str:
    column, path, *value = element.args()
    json_type = sa.func.json_type(column, path)
    if element.kind in ("null", "true", "false"):
        return _render(compiler, json_type == element.kind, **kw)
    if element.kind == "document":
        raise NotSupportedError(
            "sqlite cannot compare JSON objects or arrays by value (its json() keeps key order); "
            "compare keys instead (data__a=1), or use PostgreSQL or MariaDB"
        )
    types = ("integer", "real") if element.kind == "number" else ("text",)
    condition = sa.and_(json_type.in_(types), sa.func.json_extract(column, path) == value[0])
    return f"({_render(compiler, condition, **kw)})"


@compiles(JsonEquals, "mysql")
def _json_equals_mysql(element: JsonEquals, compiler: Any, **kw: Any) -> str:
    column, path, *value = element.args()
    extracted = sa.func.json_extract(column, path)
    json_type = sa.func.json_type(extracted)
    if element.kind == "null":
        condition: Any = json_type == "NULL"
    elif element.kind in ("true", "false"):
        condition = sa.and_(json_type == "BOOLEAN", extracted == element.kind)
    elif element.kind == "number":
        condition = sa.and_(json_type.in_(("INTEGER", "DOUBLE")), sa.func.json_value(column, path) == value[0])
    elif element.kind == "string":
        condition = sa.and_(
            json_type == "STRING", sa.collate(sa.func.json_value(column, path), BINARY_COLLATION) == value[0]
        )
    else:
        condition = sa.func.json_equals(extracted, value[0]) == 1
    return f"({_render(compiler, condition, **kw)})"


class JsonCompare(_Element):
    """The scalar at a path compared (<, <=, >, >=) with a number or a string."""

    inherit_cache = True

    type = sa.Boolean()
    op: ClassVar[str] = ""  # type: ignore[assignment]


_JSON_COMPARE = {
    op: type(f"JsonCompare_{name}", (JsonCompare,), {"op": op, "inherit_cache": True})
    for name, op in (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<="))
}


@compiles(JsonCompare)
def _json_compare(element: JsonCompare, compiler: Any, **kw: Any) -> str:
    column, path, value = element.args()
    lhs = f"({_render(compiler, column, **kw)} #> {_render(compiler, path, **kw)})"
    return f"({lhs} {element.op} {_pg_jsonb(compiler, value, **kw)})"


@compiles(JsonCompare, "sqlite")
def _json_compare_sqlite(element: JsonCompare, compiler: Any, **kw: Any) -> str:
    column, path, value = element.args()
    return f"({_render(compiler, sa.func.json_extract(column, path), **kw)} {element.op} {_render(compiler, value, **kw)})"


@compiles(JsonCompare, "mysql")
def _json_compare_mysql(element: JsonCompare, compiler: Any, **kw: Any) -> str:
    column, path, value = element.args()
    lhs = sa.collate(sa.func.json_value(column, path), BINARY_COLLATION)
    return f"({_render(compiler, lhs, **kw)} {element.op} {_render(compiler, value, **kw)})"


class JsonHasKey(_Element):
    """The path exists (its value may be JSON null); false, not NULL, for a NULL document."""

    inherit_cache = True

    type = sa.Boolean()


@compiles(JsonHasKey)
def _json_has_key(element: JsonHasKey, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return f"(({_render(compiler, column, **kw)} #> {_render(compiler, path, **kw)}) IS NOT NULL)"


@compiles(JsonHasKey, "sqlite")
def _json_has_key_sqlite(element: JsonHasKey, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    return f"({_render(compiler, sa.func.json_type(column, path).is_not(None), **kw)})"


@compiles(JsonHasKey, "mysql")
def _json_has_key_mysql(element: JsonHasKey, compiler: Any, **kw: Any) -> str:
    column, path = element.args()
    call = sa.func.json_contains_path(column, sa.literal_column(_literal(compiler, "one")), path)
    return f"({_render(compiler, sa.func.coalesce(call, 0) == 1, **kw)})"


class JsonContains(_Element):
    """JSON containment (PostgreSQL ``@>``, MariaDB ``JSON_CONTAINS``)."""

    inherit_cache = True

    type = sa.Boolean()
    reverse: ClassVar[bool] = False


class JsonContainedBy(JsonContains):
    inherit_cache = True
    reverse = True


@compiles(JsonContains)
def _json_contains(element: JsonContains, compiler: Any, **kw: Any) -> str:
    column, path, value = element.args()
    lhs = f"({_render(compiler, column, **kw)} #> {_render(compiler, path, **kw)})"
    op = "<@" if element.reverse else "@>"
    return f"({lhs} {op} {_pg_jsonb(compiler, value, **kw)})"


@compiles(JsonContains, "mysql")
def _json_contains_mysql(element: JsonContains, compiler: Any, **kw: Any) -> str:
    column, path, value = element.args()
    if element.reverse:
        call = sa.func.json_contains(value, sa.func.json_extract(column, path))
    else:
        call = sa.func.json_contains(column, value, path)
    return f"({_render(compiler, call == 1, **kw)})"


@compiles(JsonContains, "sqlite")
def _json_contains_sqlite(element: JsonContains, compiler: Any, **kw: Any) -> str:
    raise NotSupportedError(
        "sqlite has no JSON containment operator: data__contains / data__contained_by work on "
        "PostgreSQL and MariaDB only; filter on keys instead (data__a=1)"
    )


# --------------------------------------------------------------------------- lookups


@register_lookup
class Exact(Lookup):
    name = "exact"
    accepts_none = True

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if value is None:
            return column.is_(None)
        return _equals(column, value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        return key.equals(value)

    def null_row(self, value: Any) -> bool:
        return value is None


@register_lookup
class IExact(Lookup):
    name = "iexact"
    bind_as_column = False
    accepts_none = True

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        return None if value is None else _text_value(value, self.name)

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if value is None:
            return column.is_(None)
        return _MATCHES["exact", True](column, value)

    def null_row(self, value: Any) -> bool:
        return value is None


def _text_value(value: Any, lookup: str) -> Any:
    if _is_expression(value):
        return value
    if isinstance(value, (bytes, dict, list, tuple, set)):
        raise ValueError(f"{lookup} takes a string, got {type(value).__name__}")
    return str(value)


class _TextLookup(Lookup):
    bind_as_column = False
    kind: ClassVar[str] = ""
    ci: ClassVar[bool] = False

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        if value is None:
            raise ValueError(f"cannot use None with the {self.name!r} lookup (use isnull=True)")
        return _text_value(value, self.name)

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if isinstance(value, str):
            value = sa.bindparam(None, value, type_=Pattern(self.kind))
        return _MATCHES[self.kind, self.ci](column, value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        return self.build(key.text(), value)


@register_lookup
class Contains(_TextLookup):
    name = "contains"
    kind = "contains"

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        if isinstance(value, (dict, list)):
            return value  # JSON containment
        return super().prepare(value, convert)

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if is_json(column.type):
            return self.build_json(JsonKey(column, ()), value)
        return super().build(column, value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        if isinstance(value, str) and key.keys:
            return super().build(key.text(), value)
        return key.contains(value)


@register_lookup
class IContains(_TextLookup):
    name = "icontains"
    kind = "contains"
    ci = True


@register_lookup
class StartsWith(_TextLookup):
    name = "startswith"
    kind = "startswith"


@register_lookup
class IStartsWith(_TextLookup):
    name = "istartswith"
    kind = "startswith"
    ci = True


@register_lookup
class EndsWith(_TextLookup):
    name = "endswith"
    kind = "endswith"


@register_lookup
class IEndsWith(_TextLookup):
    name = "iendswith"
    kind = "endswith"
    ci = True


@register_lookup
class ContainedBy(Lookup):
    """JSON: the column's document is contained in the value (PostgreSQL, MariaDB)."""

    name = "contained_by"
    bind_as_column = False

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return self.build_json(JsonKey(column, ()), value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        return key.contains(value, reverse=True)


@register_lookup
class Regex(Lookup):
    name = "regex"
    bind_as_column = False
    element: ClassVar[type[RegexMatch]] = RegexMatch

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        if value is None:
            raise ValueError(f"cannot use None with the {self.name!r} lookup")
        if not isinstance(value, str) and not _is_expression(value):
            raise ValueError(f"{self.name} takes a pattern string, got {type(value).__name__}")
        return value

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return self.element(column, value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        return self.build(key.text(), value)


@register_lookup
class IRegex(Regex):
    name = "iregex"
    element = IRegexMatch


@register_lookup
class In(Lookup):
    """``in``: a list (empty: no rows, ``None`` dropped, as Django) or a subquery."""

    name = "in"

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        if _is_expression(value) or isinstance(value, sa.Select):
            return value
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
            raise ValueError(f"in takes a list of values, got {type(value).__name__}")
        values = [v for v in value if v is not None]
        if convert is not None:
            values = [convert(v) for v in values]
        return values

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        if isinstance(value, list):
            if not value:
                return sa.false()
            if len(value) > LONG_IN and _one_parameter_type(column.type) is not None:
                return InList(column, sa.bindparam(None, value, type_=_ListParam(column.type)))
            if is_text(column.type):
                return sa.and_(column.in_(value), BinaryText(column).in_(value))
        return column.in_(value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        if not isinstance(value, list):
            raise ValueError("in on a JSON key takes a list of values")
        if not value:
            return sa.false()
        return sa.or_(*(key.equals(v) for v in value))


class _Comparison(Lookup):
    op: ClassVar[str] = ""

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return comparable(column).operate(_OPERATORS[self.op], value)  # type: ignore[no-any-return]

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        return key.compare(self.op, value)


_OPERATORS = {">": sa.sql.operators.gt, ">=": sa.sql.operators.ge, "<": sa.sql.operators.lt, "<=": sa.sql.operators.le}


@register_lookup
class GreaterThan(_Comparison):
    name = "gt"
    op = ">"


@register_lookup
class GreaterThanOrEqual(_Comparison):
    name = "gte"
    op = ">="


@register_lookup
class LessThan(_Comparison):
    name = "lt"
    op = "<"


@register_lookup
class LessThanOrEqual(_Comparison):
    name = "lte"
    op = "<="


@register_lookup
class IsNull(Lookup):
    name = "isnull"
    bind_as_column = False

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"isnull takes True or False, got {value!r}")
        return value

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return column.is_(None) if value else column.is_not(None)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        return sa.not_(key.has_key()) if value else key.has_key()

    def null_row(self, value: Any) -> bool:
        return bool(value)


@register_lookup
class Range(Lookup):
    name = "range"

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError(f"range takes a (low, high) pair, got {type(value).__name__}")
        pair = list(value)
        if len(pair) != 2 or None in pair:
            raise ValueError("range takes a (low, high) pair of values, not None")
        if convert is not None:
            pair = [v if _is_expression(v) else convert(v) for v in pair]
        return pair

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        low, high = value
        return comparable(column).between(low, high)  # type: ignore[no-any-return]


class _JsonKeys(Lookup):
    bind_as_column = False
    every: ClassVar[bool] = True

    def prepare(self, value: Any, convert: Callable[[Any], Any] | None) -> Any:
        keys = [value] if isinstance(value, str) else list(value)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"{self.name} takes key names (strings)")
        return keys

    def build(self, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
        return self.build_json(JsonKey(column, ()), value)

    def build_json(self, key: JsonKey, value: Any) -> ColumnElement[bool]:
        checks = [key.child(k).has_key() for k in value]
        return sa.and_(*checks) if self.every else sa.or_(*checks)


@register_lookup
class HasKey(_JsonKeys):
    name = "has_key"


@register_lookup
class HasKeys(_JsonKeys):
    name = "has_keys"


@register_lookup
class HasAnyKeys(_JsonKeys):
    name = "has_any_keys"
    every = False


# --------------------------------------------------------------------------- transforms


def _is_temporal(type_: Any) -> bool:
    return isinstance(type_, (sa.DateTime, sa.Date, UTCDateTime))


def _is_datetime(type_: Any) -> bool:
    return isinstance(type_, (sa.DateTime, UTCDateTime))


def _has_clock(type_: Any) -> bool:
    return _is_datetime(type_) or isinstance(type_, (sa.Time, PreciseTime))


def _part_transform(part: str, clock: bool) -> type[Transform]:
    element = type(f"DatePart_{part}", (DatePart,), {"part": part, "inherit_cache": True})

    class Part(Transform):
        name = part
        output = int

        def applies_to(self, type_: Any) -> bool:
            return _has_clock(type_) if clock else _is_temporal(type_)

        def build(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
            return element(expression)  # type: ignore[no-any-return]

    Part.__name__ = Part.__qualname__ = part.title().replace("_", "")
    return Part


for _part in ("year", "quarter", "month", "day", "week_day"):
    register_lookup(_part_transform(_part, clock=False))
for _part in ("hour", "minute", "second"):
    register_lookup(_part_transform(_part, clock=True))


@register_lookup
class Date(Transform):
    """``created__date``: the UTC calendar date of a datetime."""

    name = "date"
    output = dt.date

    def applies_to(self, type_: Any) -> bool:
        return _is_datetime(type_)

    def build(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        return DateOf(expression)
