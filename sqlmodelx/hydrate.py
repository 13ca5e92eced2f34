"""Rows -> model instances, through per-model generated loaders (L4).

A loader is generated once per (model, selected fields) and cached on the model's plan:
it builds each instance's ``__dict__`` from a dict literal, skipping ``__init__`` and
validation (the column types already produced the right Python values), and consults
the session's identity map so one row is one object.

The identity-map rule is SQLAlchemy's: a row read again for an object that is already in
the session refreshes nothing the object holds (its values, changed or not, stay as they
are); fields the object never loaded (``only()`` / ``defer()``) are filled in from the
row. ``refresh()`` is the way to read an object again.

This module also owns the per-instance database snapshot (``_sx_cols`` / ``_sx_vals``):
what was last read from or written to the row. The session compares against it to find
changed fields, and restores it when a rollback undoes writes.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .model import Model, ModelPlan

_set_dict = object.__setattr__
_new = object.__new__


def rows_loader(plan: ModelPlan, names: tuple[str, ...], offset: int = 0) -> Callable[..., list[Any]]:
    """A function ``load(rows, session, imap_table) -> list[instances]``.

    ``names`` are the field names of the selected columns, starting at ``offset`` in each
    row. ``imap_table`` is the session's identity map for this model, or None (objects
    are then detached: no session, no identity map).
    """
    key = (names, offset)
    loaders: dict[Any, Callable[..., list[Any]]] = plan._loaders  # keyed by (names, offset)
    cached = loaders.get(key)
    if cached is not None:
        return cached
    for name in names:
        if name not in plan.fields:
            raise ValueError(f"{name!r} is not a field of {plan.model.__name__}")
    pk_positions = [names.index(n) + offset for n in plan.pk_names if n in names]
    if len(pk_positions) != len(plan.pk_names):
        raise ValueError(f"a {plan.model.__name__} query must select its primary key")
    if len(pk_positions) == 1:
        pk_expr = f"row[{pk_positions[0]}]"
        null_key = "key is None"
    else:
        pk_expr = "(" + ", ".join(f"row[{p}]" for p in pk_positions) + ",)"
        null_key = "None in key"
    items = ", ".join(f"{name!r}: row[{i + offset}]" for i, name in enumerate(names))
    # The row itself is the snapshot when the model's columns come first (no copy); a
    # snapshot may hold more values than names (joined columns): read it with zip().
    snapshot = "row" if offset == 0 else f"row[{offset}:{offset + len(names)}]"
    source = f"""
def load(rows, session, imap):
    out = []
    append = out.append
    if imap is None:
        for row in rows:
            o = _new(cls)
            _set_dict(o, "__dict__", {{{items}, "_sx_vals": {snapshot}, "_sx_cols": names}})
            append(o)
        return out
    get = imap.get
    for row in rows:
        key = {pk_expr}
        if {null_key}:
            append(None)
            continue
        ref = get(key)
        if ref is not None:
            o = ref()
            if o is not None:
                od = o.__dict__
                if "_sx_deleted" not in od:
                    cols = od.get("_sx_cols")
                    if cols is not None and len(cols) != nfields:
                        fill_missing(o, row)
                    append(o)
                    continue
        o = _new(cls)
        _set_dict(o, "__dict__", {{{items}, "_sx_vals": {snapshot}, "_sx_cols": names, "_sx_session": session}})
        imap[key] = wref(o)
        append(o)
    return out
"""

    def fill_missing(obj: Any, row: Sequence[Any]) -> None:
        """A known object keeps its values; fields it never loaded are filled from the row."""
        d = obj.__dict__
        cols = d.get("_sx_cols")
        if cols is None or len(cols) == len(plan.fields):
            return
        added = [(name, row[i + offset]) for i, name in enumerate(names) if name not in cols]
        if not added:
            return
        for name, value in added:
            if name not in d:
                d[name] = value
        # The filled fields are database state now, so they do not count as changes.
        d["_sx_cols"] = (*cols, *(name for name, _ in added))
        d["_sx_vals"] = (*d["_sx_vals"][: len(cols)], *(value for _, value in added))

    namespace: dict[str, Any] = {
        "_new": _new,
        "_set_dict": _set_dict,
        "cls": plan.model,
        "names": names,
        "wref": weakref.ref,
        "fill_missing": fill_missing,
        "nfields": len(plan.fields),
    }
    exec(compile(source, f"<sqlmodelx loader {plan.model.__name__}>", "exec"), namespace)  # noqa: S102
    loader: Callable[..., list[Any]] = namespace["load"]
    loaders[key] = loader
    return loader


def snapshot_of(obj: Model) -> dict[str, Any]:
    """The values last read from or written to the database, by field name."""
    d = obj.__dict__
    cols = d.get("_sx_cols")
    if cols is None:
        return {}
    return dict(zip(cols, d["_sx_vals"], strict=False))


def changed_fields(obj: Model) -> list[str]:
    """Field names whose value differs from the last database state (all fields of a new object).

    Values are compared with ``is`` then ``==``: a mutable value changed in place (a JSON
    dict edited without reassigning it) is not seen; assign a new value instead.
    """
    d = obj.__dict__
    plan = type(obj).__sx_plan__
    cols = d.get("_sx_cols")
    if cols is None:
        return [n for n in plan.fields if n in d]
    vals = d["_sx_vals"]
    changed = []
    for name, old in zip(cols, vals, strict=False):
        if name in d:
            new = d[name]
            if new is not old and (type(new) is not type(old) or new != old):
                changed.append(name)
    if len(cols) != len(plan.fields):
        seen = set(cols)
        changed.extend(n for n in plan.fields if n not in seen and n in d)
    return changed


def mark_persistent(obj: Model, names: tuple[str, ...] | None = None) -> None:
    """Record the object's current field values as the database state."""
    d = obj.__dict__
    plan = type(obj).__sx_plan__
    if names is None:
        every, read = _every_field(plan)
        try:
            d["_sx_vals"] = read(d)
        except KeyError:  # a field not loaded (only()/defer()): the fields it has
            names = tuple(n for n in plan.fields if n in d)
        else:
            d["_sx_cols"] = every
            return
    d["_sx_cols"] = names
    d["_sx_vals"] = tuple(d[n] for n in names)


def _every_field(plan: ModelPlan) -> tuple[tuple[str, ...], Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """The model's field names and a function reading their values, as a tuple, from a
    ``__dict__`` (one C-level ``itemgetter``); kept on the plan."""
    found: Any = plan.__dict__.get("_sx_every_field")
    if found is None or len(found[0]) != len(plan.fields):
        names = tuple(plan.fields)
        getter = operator.itemgetter(*names)
        read = getter if len(names) > 1 else (lambda d: (getter(d),))
        found = plan.__dict__["_sx_every_field"] = (names, read)
    return found  # type: ignore[no-any-return]


def restore_snapshot(obj: Model, cols: tuple[str, ...], vals: tuple[Any, ...]) -> None:
    """Put the object back in the database state ``cols``/``vals`` (after a rollback).

    Unflushed changes are discarded; a field outside the snapshot is forgotten (it reads
    as not loaded); a loaded to-one relation that no longer matches its key is dropped.
    """
    d = obj.__dict__
    plan = type(obj).__sx_plan__
    for name, value in zip(cols, vals, strict=False):
        d[name] = value
    if len(cols) != len(plan.fields):
        kept = set(cols)
        for name in plan.fields:
            if name not in kept:
                d.pop(name, None)
    d["_sx_cols"] = cols
    d["_sx_vals"] = vals
    _drop_stale_relations(obj)


def forget_database_state(obj: Model, assigned: tuple[str, ...] = ()) -> None:
    """Make a persistent object transient again: no snapshot, database-assigned values gone.

    ``assigned`` names the fields the database filled in on INSERT (an autoincrement
    primary key, server defaults); values the user gave are kept.
    """
    d = obj.__dict__
    for name in assigned:
        d.pop(name, None)
    d.pop("_sx_cols", None)
    d.pop("_sx_vals", None)
    d.pop("_sx_deleted", None)
    _drop_stale_relations(obj)


def _drop_stale_relations(obj: Model) -> None:
    d = obj.__dict__
    for rel in type(obj).__sx_plan__.relations.values():
        loaded = d.get(rel.name)
        if loaded is None:
            continue
        target_plan = type(loaded).__sx_plan__
        to_field = rel.to_field or target_plan.pk_names[0]
        if loaded.__dict__.get(to_field) != d.get(rel.column_name):
            del d[rel.name]
