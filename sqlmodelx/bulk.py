"""Statements for bulk writes: ``bulk_create(on_conflict=)``, ``upsert`` and ``bulk_update`` (L3).

Each builder returns a Core statement for one dialect, using that dialect's own upsert
construct (``INSERT .. ON CONFLICT`` on PostgreSQL and SQLite, ``INSERT .. ON DUPLICATE KEY
UPDATE`` on MySQL/MariaDB). Nothing here touches a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from ._compile import field_error
from .exc import FieldError, NotSupportedError

if TYPE_CHECKING:
    from .model import Model, ModelPlan

OnConflict = Literal["ignore", "update"]

__all__ = ["OnConflict", "check_fields", "upsert_statement", "bulk_update_statement"]


def check_fields(plan: ModelPlan, names: Sequence[str], context: str) -> tuple[str, ...]:
    """Field names from the user, resolved (``pk`` and relation names allowed)."""
    resolved = []
    for name in names:
        if not isinstance(name, str):
            raise FieldError(f"{context} takes field names as strings, got {type(name).__name__}")
        if name == "pk" and len(plan.pk_names) == 1:
            name = plan.pk_names[0]
        elif name in plan.relations:
            name = plan.relations[name].column_name
        if name not in plan.fields:
            raise field_error(plan, name, context)
        resolved.append(name)
    return tuple(resolved)


def upsert_statement(
    dialect: sa.Dialect,
    plan: ModelPlan,
    mode: OnConflict,
    unique_fields: tuple[str, ...],
    update_fields: tuple[str, ...],
) -> Any:
    """``INSERT`` that ignores or updates rows whose unique key already exists."""
    table = plan.table
    name = dialect.name
    if name in ("postgresql", "sqlite"):
        insert = (postgresql.insert if name == "postgresql" else sqlite.insert)(table)
        targets = [plan.fields[f].column for f in unique_fields] or None
        if mode == "ignore":
            return insert.on_conflict_do_nothing(index_elements=targets)
        if not targets:
            raise NotSupportedError(f"{name}: an upsert needs unique_fields= (the conflict target)")
        assignments: dict[str, Any] = {
            plan.fields[f].column.name: insert.excluded[plan.fields[f].column.key]
            for f in update_fields
            if f != plan.version_field
        }
        assignments.update(_version_bump(plan))
        return insert.on_conflict_do_update(index_elements=targets, set_=assignments)
    if name in ("mysql", "mariadb"):
        upsert = mysql.insert(table)
        if mode == "ignore":
            # A no-op assignment keeps the existing row; unlike INSERT IGNORE it does not
            # turn other errors (bad values, truncation) into warnings.
            pk = plan.fields[plan.pk_names[0]].column
            return upsert.on_duplicate_key_update({pk.name: pk})
        changes: dict[str, Any] = {
            plan.fields[f].column.name: upsert.inserted[plan.fields[f].column.key]
            for f in update_fields
            if f != plan.version_field
        }
        changes.update(_version_bump(plan))
        return upsert.on_duplicate_key_update(changes)
    raise NotSupportedError(f"{name} has no upsert statement that sqlmodelx knows")


def _version_bump(plan: ModelPlan) -> dict[str, Any]:
    """``version = version + 1`` for a model with a ``sx.VersionField`` (else nothing)."""
    if plan.version_field is None:
        return {}
    column = plan.fields[plan.version_field].column
    return {column.name: column + 1}


def bulk_update_statement(
    plan: ModelPlan, objects: Sequence[Model], fields: tuple[str, ...], versions: Sequence[Any] = ()
) -> Any:
    """One ``UPDATE .. SET f = CASE pk WHEN .. THEN .. END WHERE pk IN (..)`` for a batch.

    Values are bound with each column's type, so type processing (UTC datetimes, JSON,
    enums) is the same as for a single UPDATE. With a ``sx.VersionField`` the rows must
    still have ``versions`` (``WHERE (pk, version) IN (...)``) and the version is bumped.
    """
    if len(plan.pk_names) != 1:
        raise NotSupportedError(f"{plan.model.__name__} has a composite primary key: bulk_update needs a single one")
    pk_name = plan.pk_names[0]
    pk = plan.fields[pk_name].column
    keys = [obj.__dict__[pk_name] for obj in objects]
    values: dict[str, Any] = {}
    for name in fields:
        column = plan.fields[name].column
        whens = [(sa.literal(key, pk.type), sa.literal(obj.__dict__[name], column.type)) for key, obj in zip(keys, objects, strict=True)]
        values[column.key] = sa.case(*((pk == k, v) for k, v in whens), else_=column)
    if plan.version_field is None:
        return sa.update(plan.table).where(pk.in_(keys)).values(values)
    version = plan.fields[plan.version_field].column
    values[version.key] = version + 1
    pairs = list(zip(keys, versions, strict=True))
    return sa.update(plan.table).where(sa.tuple_(pk, version).in_(pairs)).values(values)
