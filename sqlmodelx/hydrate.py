"""Rows -> model instances, through per-model generated loaders (L4).

A loader is generated once per (model, selected fields) and cached on the model's plan:
it builds each instance's ``__dict__`` from a dict literal, skipping ``__init__`` and
validation (the column types already produced the right Python values), and consults
the session's identity map so one row is one object.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .model import Model, ModelPlan

_set_dict = object.__setattr__
_new = object.__new__


def rows_loader(plan: ModelPlan, names: tuple[str, ...], offset: int = 0) -> Callable[..., list[Any]]:
    """A function ``load(rows, session, imap_table) -> list[instances]``.

    ``names`` are the field names of the selected columns, starting at ``offset`` in each
    row. ``imap_table`` is the session's identity map for this model, or None.
    """
    key = (names, offset)
    cached = plan._loaders.get(key)
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
    else:
        pk_expr = "(" + ", ".join(f"row[{p}]" for p in pk_positions) + ",)"
    items = ", ".join(f"{name!r}: row[{i + offset}]" for i, name in enumerate(names))
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
        if key is None:
            append(None)
            continue
        ref = get(key)
        if ref is not None:
            o = ref()
            if o is not None and "_sx_deleted" not in o.__dict__:
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
        for i, name in enumerate(names):
            if name not in d:
                d[name] = row[i + offset]

    namespace: dict[str, Any] = {
        "_new": _new,
        "_set_dict": _set_dict,
        "cls": plan.model,
        "names": names,
        "wref": weakref.ref,
        "fill_missing": fill_missing,
    }
    exec(compile(source, f"<sqlmodelx loader {plan.model.__name__}>", "exec"), namespace)  # noqa: S102
    loader: Callable[..., list[Any]] = namespace["load"]
    plan._loaders[key] = loader
    return loader


def snapshot_of(obj: Model) -> dict[str, Any]:
    """The values last read from or written to the database, by field name."""
    d = obj.__dict__
    cols = d.get("_sx_cols")
    if cols is None:
        return {}
    return dict(zip(cols, d["_sx_vals"], strict=False))


def changed_fields(obj: Model) -> list[str]:
    """Field names whose value differs from the last database state."""
    d = obj.__dict__
    plan = type(obj).__sx_plan__
    cols = d.get("_sx_cols")
    if cols is None:
        return [n for n in plan.fields if n in d]
    vals = d["_sx_vals"]
    changed = []
    seen = set()
    for name, old in zip(cols, vals, strict=False):
        seen.add(name)
        if name in d:
            new = d[name]
            if new is not old and (type(new) is not type(old) or new != old):
                changed.append(name)
    for name in plan.fields:
        if name not in seen and name in d:
            changed.append(name)
    return changed


def mark_persistent(obj: Model, names: tuple[str, ...] | None = None) -> None:
    """Record the object's current field values as the database state."""
    d = obj.__dict__
    plan = type(obj).__sx_plan__
    if names is None:
        names = tuple(n for n in plan.fields if n in d)
    d["_sx_cols"] = names
    d["_sx_vals"] = tuple(d[n] for n in names)
