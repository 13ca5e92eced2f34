"""What deleting rows does to the rows that point at them (L3).

The database's own foreign keys do the work: ``on_delete="CASCADE"``, ``"SET NULL"``,
``"RESTRICT"`` become ``ON DELETE`` clauses, so ``instance.delete()`` and
``QuerySet.delete()`` behave the same and nothing is loaded to delete it. Two things are
left to the library:

- ``on_delete="PROTECT"`` (created without ``ON DELETE``, so the database refuses as a
  backstop) is checked *before* anything is deleted, through the cascades as Django's
  collector does, and raises :class:`~sqlmodelx.exc.ProtectedError` naming the rows.
  Models with no PROTECT key in reach cost no query.
- Objects a session has loaded see what the database did to their rows
  (:func:`deleted_in_memory`): SET NULL clears their key, CASCADE makes them transient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from .exc import ProtectedError
from .model import Model
from .relations import ReverseRelation, set_persisted

__all__ = [
    "check_protected",
    "check_protected_objects",
    "deleted_in_memory",
    "protected_queries",
    "protects",
]

#: ``keys(field)``: a list, or a Core selectable, of the ``field`` values of the rows deleted.
Keys = Callable[[str], Any]

_SHOWN = 10


def protects(model: type[Model], seen: frozenset[Any] = frozenset()) -> bool:
    """Whether deleting ``model`` rows can meet a PROTECT foreign key (directly or by cascade)."""
    for rel in model.__sx_plan__.related.values():
        if not isinstance(rel, ReverseRelation) or rel in seen:
            continue
        if rel.on_delete == "PROTECT":
            return True
        if rel.on_delete == "CASCADE" and protects(rel.target, seen | {rel}):
            return True
    return False


def protected_queries(
    model: type[Model], keys: Keys, exclude: dict[type[Model], list[Any]] | None = None, depth: int = 0
) -> Iterator[tuple[ReverseRelation, sa.Select[Any]]]:
    """SELECTs of rows that would block deleting these ``model`` rows (PROTECT, via CASCADE).

    Cascades are followed four levels deep; deeper, the database's own foreign key still
    refuses the delete. ``exclude`` lists primary keys deleted at the same time.
    """
    if depth > 4 or (depth == 0 and not protects(model)):
        return
    for rel in model.__sx_plan__.related.values():
        if not isinstance(rel, ReverseRelation):
            continue
        child = rel.target
        plan = child.__sx_plan__
        condition = rel.target_column.in_(keys(rel.source_field))
        if rel.on_delete == "PROTECT":
            stmt = sa.select(*(plan.fields[n].column for n in plan.pk_names)).where(condition)
            skipped = (exclude or {}).get(child)
            if skipped and len(plan.pk_names) == 1:
                stmt = stmt.where(plan.fields[plan.pk_names[0]].column.not_in(skipped))
            yield rel, stmt.limit(_SHOWN)
        elif rel.on_delete == "CASCADE":

            def child_keys(field: str, _plan: Any = plan, _condition: Any = condition) -> Any:
                return sa.select(_plan.fields[field].column).where(_condition)

            yield from protected_queries(child, child_keys, exclude, depth + 1)


def _refusal(model: type[Model], rel: ReverseRelation, rows: list[Any]) -> ProtectedError:
    keys = [r[0] if len(r) == 1 else tuple(r) for r in rows]
    more = "..." if len(rows) >= _SHOWN else ""
    return ProtectedError(
        f"cannot delete {model.__name__} rows: {rel.target.__name__}.{rel.forward.name} "
        f"(on_delete=PROTECT) still points at them from {rel.target.__name__} "
        f"{', '.join(map(str, keys))}{more}; delete or repoint those first",
        keys,
    )


async def check_protected(fetch_all: Callable[[Any], Any], model: type[Model], keys: Keys) -> None:
    """Raise ``ProtectedError`` before deleting ``model`` rows that protected rows point at.

    For ``QuerySet.delete()``: ``fetch_all`` is ``runner.fetch_all`` and ``keys(field)``
    is ``select(<field column>).where(<the query's conditions>)``.
    """
    for rel, stmt in protected_queries(model, keys):
        rows = list(await fetch_all(stmt))
        if rows:
            raise _refusal(model, rel, rows)


def _keys_of_batch(batch: list[Model]) -> Keys:
    return lambda field: [o.__dict__.get(field) for o in batch]


def check_protected_objects(execute: Callable[[Any], Any], objects: Iterable[Model]) -> None:
    """:func:`check_protected` for objects a session flush is about to delete (synchronous).

    ``execute(stmt)`` returns the rows (a sync ``Connection.execute(...).all()``); rows
    deleted in the same flush do not count as protecting.
    """
    by_model: dict[type[Model], list[Model]] = {}
    for obj in objects:
        by_model.setdefault(type(obj), []).append(obj)
    exclude = {m: [o.pk for o in batch] for m, batch in by_model.items()}
    for model, batch in by_model.items():
        for rel, stmt in protected_queries(model, _keys_of_batch(batch), exclude):
            rows = list(execute(stmt))
            if rows:
                raise _refusal(model, rel, rows)


def deleted_in_memory(
    identity_map: Any,
    model: type[Model],
    deleted: list[Model],
    record: Callable[[Model, str], None] | None = None,
    depth: int = 0,
) -> None:
    """After ``deleted`` rows of ``model`` went: what ON DELETE did, on the loaded objects.

    Objects in the identity map that pointed at them get their key set to None (SET NULL)
    or stop being persistent (CASCADE, followed down). ``record(obj, "updated"|"deleted")``
    is called before each change, so a session can undo it on rollback.
    """
    if depth > 8 or not deleted:
        return
    keys = _keys_of_batch(deleted)
    for rel in model.__sx_plan__.related.values():
        if not isinstance(rel, ReverseRelation) or rel.on_delete not in ("SET NULL", "CASCADE"):
            continue
        gone = set(keys(rel.source_field))
        plan = rel.target.__sx_plan__
        known = identity_map.for_plan(plan)
        hit = [
            o for o in (ref() for ref in list(known.values()))
            if o is not None and "_sx_cols" in o.__dict__ and o.__dict__.get(rel.target_field) in gone
        ]
        for obj in hit:
            if record is not None:
                record(obj, "updated" if rel.on_delete == "SET NULL" else "deleted")
            d = obj.__dict__
            if rel.on_delete == "SET NULL":
                set_persisted(obj, rel.target_field, None)
                d.pop(rel.forward.name, None)
            else:
                identity_map.discard(plan, plan.pk_of(d), obj)
                for name in ("_sx_cols", "_sx_vals", "_sx_session"):
                    d.pop(name, None)
        if rel.on_delete == "CASCADE":
            deleted_in_memory(identity_map, rel.target, hit, record, depth + 1)
