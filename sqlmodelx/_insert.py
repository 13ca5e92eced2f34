"""Many new rows in one statement per chunk, their keys returned (L5, the flush's INSERT path).

SQLAlchemy's "insertmanyvalues" processes one parameter dict per row through the compiled
statement: a few microseconds a row, more than the database spends on it. For the common
batch (new rows of one model, the same fields set, an integer autoincrement key to read
back, nothing else assigned by the database) this module sends one driver-level statement
per chunk, its parameters built column by column:

- PostgreSQL (asyncpg): ``INSERT .. SELECT .. FROM unnest($1::T[], ..) WITH ORDINALITY AS
  u(.., n) ORDER BY n RETURNING key``, one array per column, 10,000 rows a statement;
- SQLite and MariaDB: ``INSERT .. VALUES (?, ..), (?, ..) .. RETURNING key`` with flat
  parameters, as many rows as the dialect's parameter limit allows (1,000 at most).
  (MySQL has no RETURNING: SQLAlchemy's path.) On MariaDB a group of ``CONSECUTIVE_MIN``
  rows or more leaves out the RETURNING when the server guarantees the keys of one such
  statement to be consecutive (``_consecutive_keys``, checked each time): they are then
  the statement's first key and the ones after it, without reading a row per key.

Both statements are Core constructs (``insert().from_select(...)`` over
``func.unnest(...).table_valued(...)``; ``insert().values([...])``) compiled by SQLAlchemy
for the dialect once per shape and row count; the text is never assembled by hand.

The keys come back in no promised order; they are *assigned* in row order (the sequence
follows the ``ORDER BY``; SQLite gives each row the next rowid), so the keys sorted are the
rows' keys in order: the assumption SQLAlchemy's own ``sort_by_parameter_order`` makes on
PostgreSQL. Values pass through the column types' bind processors, as SQLAlchemy would
apply them; a column whose type is not a plain scalar one (JSON, Enum, arrays, collated
strings, ...) leaves the batch to SQLAlchemy. The compiled statements run through
``Connection.exec_driver_sql``: events, error wrapping and the transaction are SQLAlchemy's.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

if TYPE_CHECKING:
    from .model import Model, ModelPlan

__all__ = ["insert_returning_keys"]

#: Rows per PostgreSQL statement (one array parameter per column, whatever the count).
PG_CHUNK = 10_000
_PLAIN = (sa.Integer, sa.String, sa.Boolean, sa.Float, sa.Numeric, sa.Date, sa.DateTime, sa.Time)
_NOT_PLAIN = (sa.Enum, sa.JSON, sa.ARRAY, sa.Interval, sa.PickleType)


def insert_returning_keys(
    conn: sa.Connection, plan: ModelPlan, names: tuple[str, ...], group: Sequence[Model], key: str
) -> list[Any] | None:
    """INSERT ``group`` (the fields ``names``) and return the keys the database assigned to
    the integer autoincrement field ``key``, in the order of ``group``; None when this path
    does not apply (the caller then takes SQLAlchemy's)."""
    dialect = conn.dialect
    mariadb = getattr(dialect, "is_mariadb", False) and dialect.paramstyle == "format"
    if dialect.name == "postgresql" and dialect.driver == "asyncpg" and dialect.paramstyle == "numeric_dollar":
        chunk, build = PG_CHUNK, _unnest_statement
    elif dialect.insert_returning and ((dialect.name == "sqlite" and dialect.paramstyle == "qmark") or mariadb):
        chunk = min(dialect.insertmanyvalues_page_size, dialect.insertmanyvalues_max_parameters // max(len(names), 1))
        build = _values_statement
    else:
        return None
    if chunk < 1 or not names:
        return None
    columns = _plain_columns(dialect, plan, names)
    if columns is None:
        return None
    if dialect.paramstyle == "format" and "%" in "".join((plan.table.name, plan.fields[key].column.name, *(q for q, _, _ in columns))):
        return None  # a name with % in it would be read as a placeholder
    # MariaDB: many rows' keys follow from the first one when the server guarantees it.
    returning = not mariadb or len(group) < CONSECUTIVE_MIN or not _consecutive_keys(conn, plan, key)
    keys: list[Any] = []
    dicts = [obj.__dict__ for obj in group]
    for start in range(0, len(group), chunk):
        part = dicts[start : start + chunk]
        statement, parameters = build(dialect, plan, names, columns, key if returning else None, part)
        result = conn.exec_driver_sql(statement, parameters)
        if returning:
            found = sorted(result.scalars().all())
        else:
            first = result.lastrowid
            found = list(range(first, first + result.rowcount)) if isinstance(first, int) and first > 0 else []
        if len(found) != len(part):
            raise sa.exc.InvalidRequestError(f"INSERT of {len(part)} rows returned {len(found)} keys")
        keys.extend(found)
    return keys


#: Rows of one group from which MariaDB's keys are read from the INSERT's first key
#: (``LAST_INSERT_ID()``) instead of ``RETURNING`` (reading 1,000 returned rows costs
#: aiomysql about 2.5 ms; the check below is one small query).
CONSECUTIVE_MIN = 500


def _consecutive_keys(conn: sa.Connection, plan: ModelPlan, key: str) -> bool:
    """Whether MariaDB gives the rows of one multi-row ``INSERT .. VALUES`` into the model's
    table consecutive keys, the first of them reported as the statement's insert id.

    InnoDB guarantees it for such "simple inserts" when ``innodb_autoinc_lock_mode`` is 0
    (traditional) or 1 (consecutive, the default), with ``auto_increment_increment`` 1 (the
    default; Galera changes both). Checked on every use, in one query: the server's lock
    mode, this connection's increment, the table's engine (InnoDB), that the key column is
    the table's AUTO_INCREMENT one (not a sequence's ``DEFAULT NEXTVAL``: the statement then
    reports no first key) and that no INSERT trigger could assign the key itself; otherwise
    the keys come back through RETURNING.
    """
    names = {"schema": plan.table.schema, "table": plan.table.name, "column": plan.fields[key].column.name}
    row = conn.execute(_CONSECUTIVE_CHECK, names).first()
    return row is not None and row[0] in (0, 1) and tuple(row[1:]) == (1, "InnoDB", 1, 0)


#: Scalar subqueries with the names as constants: MariaDB looks them up directly (0.4 ms),
#: where a join or a correlated subquery reads every trigger of the server (2 ms).
_CONSECUTIVE_CHECK = sa.text(
    "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment, "
    "(SELECT ENGINE FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :table), "
    "(SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) "
    "AND TABLE_NAME = :table AND COLUMN_NAME = :column AND EXTRA LIKE '%auto_increment%'), "
    "(SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = COALESCE(:schema, DATABASE()) "
    "AND EVENT_OBJECT_TABLE = :table AND EVENT_MANIPULATION = 'INSERT')"
)


_Columns = list[tuple[str, str, Callable[[Any], Any] | None]]


def _plain_columns(dialect: sa.Dialect, plan: ModelPlan, names: tuple[str, ...]) -> _Columns | None:
    """``(quoted column name, SQL type, bind processor)`` per field, or None if one is not plain."""
    cached: dict[Any, _Columns | None] = plan.__dict__.setdefault("_sx_insert_columns", {})
    cache_key = (names, type(dialect), dialect.server_version_info)
    if cache_key in cached:
        return cached[cache_key]
    preparer = dialect.identifier_preparer
    columns: _Columns = []
    for name in names:
        column = plan.fields[name].column
        base = column.type
        while isinstance(base, sa.TypeDecorator):
            base = base.impl_instance
        if not isinstance(base, _PLAIN) or isinstance(base, _NOT_PLAIN) or getattr(base, "collation", None):
            cached[cache_key] = None
            return None
        processor = column.type._cached_bind_processor(dialect)
        columns.append((preparer.quote(column.name), column.type.compile(dialect=dialect), processor))
    cached[cache_key] = columns
    return columns


def _column_values(columns: _Columns, names: tuple[str, ...], part: Sequence[dict[str, Any]]) -> list[list[Any]]:
    values = []
    for (_, _, processor), name in zip(columns, names, strict=True):
        column = [d[name] for d in part]
        values.append([processor(v) for v in column] if processor is not None else column)
    return values


def _row_values(columns: _Columns, names: tuple[str, ...], part: Sequence[dict[str, Any]]) -> tuple[Any, ...]:
    """The values of ``part`` row by row (``names`` of the first row, then of the next, ..)."""
    if any(processor is not None for _, _, processor in columns):
        return tuple(value for row in zip(*_column_values(columns, names, part), strict=True) for value in row)
    if len(names) == 1:
        return tuple(d[names[0]] for d in part)
    return tuple(itertools.chain.from_iterable(map(operator.itemgetter(*names), part)))


def _compiled(
    dialect: sa.Dialect,
    plan: ModelPlan,
    cache_key: tuple[Any, ...],
    build: Callable[[], Any],
    natural: Callable[[], tuple[str, ...]],
) -> tuple[str, tuple[str, ...], bool]:
    """SQL text and positional bind names of a Core statement, compiled once per shape,
    and whether the names come in the ``natural()`` order (the parameters can then be
    laid out without looking each name up).

    The text is SQLAlchemy's own compilation for this dialect; nothing is pasted together
    here. Only the execution skips the per-row parameter processing of insertmanyvalues.
    """
    texts: dict[Any, tuple[str, tuple[str, ...], bool]] = plan.__dict__.setdefault("_sx_insert_texts", {})
    key = (*cache_key, type(dialect), dialect.server_version_info)
    found = texts.get(key)
    if found is None:
        compiled = build().compile(dialect=dialect)
        positions = tuple(compiled.positiontup or ())
        if len(texts) > 64:
            texts.clear()
        found = texts[key] = (compiled.string, positions, positions == natural())
    return found


def _unnest_statement(
    dialect: sa.Dialect, plan: ModelPlan, names: tuple[str, ...], columns: _Columns, key: str | None, part: Sequence[dict[str, Any]]
) -> tuple[str, tuple[Any, ...]]:
    """``INSERT .. SELECT .. FROM unnest(:a0, ..) WITH ORDINALITY .. ORDER BY n RETURNING key``."""
    assert key is not None  # PostgreSQL's keys always come back through RETURNING

    def build() -> Any:
        targets = [plan.fields[n].column for n in names]
        arrays = [
            sa.bindparam(f"sx_a{i}", type_=postgresql.ARRAY(column.type)) for i, column in enumerate(targets)
        ]
        labels = [f"c{i}" for i in range(len(targets))]
        rows = sa.func.unnest(*arrays).table_valued(*labels, with_ordinality="n").render_derived(name="u")
        select = sa.select(*(rows.c[label] for label in labels)).order_by(rows.c.n)
        return sa.insert(plan.table).from_select(targets, select).returning(plan.fields[key].column)

    text, positions, _ = _compiled(
        dialect, plan, ("unnest", names, key), build, lambda: tuple(f"sx_a{i}" for i in range(len(names)))
    )
    arrays = _column_values(columns, names, part)
    by_name = {f"sx_a{i}": values for i, values in enumerate(arrays)}
    return text, tuple(by_name[name] for name in positions)


def _values_statement(
    dialect: sa.Dialect, plan: ModelPlan, names: tuple[str, ...], columns: _Columns, key: str | None, part: Sequence[dict[str, Any]]
) -> tuple[str, tuple[Any, ...]]:
    """``INSERT .. VALUES (..), (..) .. RETURNING key`` (without RETURNING when ``key`` is
    None), one statement per row count."""
    count = len(part)

    def build() -> Any:
        rows: list[dict[str, Any]] = [
            {plan.fields[n].column.key: sa.bindparam(f"sx_{r}_{i}") for i, n in enumerate(names)}
            for r in range(count)
        ]
        insert = sa.insert(plan.table).values(rows)
        return insert.returning(plan.fields[key].column) if key is not None else insert

    def natural() -> tuple[str, ...]:
        return tuple(f"sx_{r}_{i}" for r in range(count) for i in range(len(names)))

    text, positions, in_order = _compiled(dialect, plan, ("values", names, key, count), build, natural)
    if in_order:  # row by row, as SQLAlchemy renders a multi-row VALUES
        return text, _row_values(columns, names, part)
    by_column = _column_values(columns, names, part)
    by_name = {f"sx_{r}_{i}": value for i, values in enumerate(by_column) for r, value in enumerate(values)}
    return text, tuple(by_name[name] for name in positions)
