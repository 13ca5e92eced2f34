"""Eager loading: objects joined by ``select_related``, and ``prefetch_related`` queries (L4).

Both run inside a session, which passes itself in (the runner protocol: ``fetch_objects``
and its ``identity_map``), so every related object is hydrated through the identity map:
one row, one object, whichever query brought it.

- :func:`attach_joined` turns the joined columns of each row into related objects and
  stores them on their parents (no SQL).
- :func:`prefetch_related_objects` loads relations of objects already fetched with ONE
  query per relation per level (``IN`` lists chunked under the backend's parameter
  limit), serving to-one targets from the identity map when they are already there.
  ``QuerySet.prefetch_related`` and ``await obj.load(...)`` both end here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from .eager import LinkFilter, as_prefetch
from .exc import FieldError, NotSupportedError
from .hydrate import rows_loader
from .model import Model
from .relations import (
    PREFETCHED,
    ManyToManyRelation,
    ReverseRelation,
    in_chunk_size,
    key_field,
    relation_of,
    target_of,
)

__all__ = [
    "attach_joined",
    "check_streaming",
    "load_eager",
    "prefetch_related_objects",
    "queries_while_streaming",
    "reuse_joined",
]

#: False: every joined row goes through the loader (the tests compare both paths this way).
reuse_joined = True


def queries_while_streaming(dialect: Any) -> bool:
    """Whether a connection can run another query while a server-side cursor is open.

    MySQL/MariaDB stream through an unbuffered cursor that owns the connection until the
    last row is read; PostgreSQL (a cursor inside the transaction) and SQLite can.
    """
    return dialect.name not in ("mysql", "mariadb")


def check_streaming(dialect: Any, qs: Any) -> None:
    """``iterator()`` prefetches chunk by chunk: refuse where the backend cannot."""
    if qs._eager.prefetch and not queries_while_streaming(dialect):
        raise NotSupportedError(
            f"{dialect.name}: iterator() cannot prefetch_related, because its streaming cursor "
            f"holds the connection until the last row is read; use select_related for to-one "
            f"relations, or prefetch over slices (qs[i:i + n]) instead of iterator()"
        )


async def load_eager(session: Any, qs: Any, rows: Sequence[Any], objects: list[Any]) -> None:
    """After ``fetch_objects`` hydrated ``objects`` from ``rows``: joined relations, then prefetches."""
    eager = qs._eager
    if eager.select_related:
        attach_joined(session, qs._joins, rows, objects)
    if eager.link is not None:
        offset = eager.link.offset
        eager.link.values = [row[offset] for row in rows]
    if eager.prefetch and objects:
        await prefetch_related_objects(session, objects, eager.prefetch)


def attach_joined(session: Any, joins: Sequence[Any], rows: Sequence[Any], objects: list[Any]) -> None:
    """Hydrate each ``select_related`` node from its columns and set it on its parents."""
    imap = session.identity_map
    levels: list[list[Any]] = []
    for node in joins:
        related = _load_joined(node, rows, session, imap.for_plan(node.plan))
        parents = objects if node.parent < 0 else levels[node.parent]
        attr = node.attr
        for parent, obj in zip(parents, related, strict=True):
            if parent is not None:
                parent.__dict__[attr] = obj
        levels.append(related)


def _load_joined(node: Any, rows: Sequence[Any], session: Any, imap: Any) -> list[Any]:
    """The node's object for each row: the loader runs on one row per key only.

    Many rows share one related object (ten books, one author), and their columns for it
    hold the same values. Through the loader, every row after the first of a key would
    find the object the first one made or met in the identity map and fill in nothing
    (the first row filled what it lacked), so they take that object without the loader's
    identity-map lookups.
    """
    loader = rows_loader(node.plan, node.names, node.offset)
    keys = list(map(node.key_of, rows))
    firsts = dict(zip(keys, rows, strict=True))  # one row per key, keys in first-seen order
    if len(firsts) == len(keys) or not reuse_joined:
        return loader(rows, session, imap)
    loaded = dict(zip(firsts, loader(list(firsts.values()), session, imap), strict=True))
    return list(map(loaded.__getitem__, keys))


# --------------------------------------------------------------------------- prefetch


def _unique(objects: Iterable[Any]) -> list[Any]:
    """The objects without None and repeats, in first-seen order."""
    return list({id(obj): obj for obj in objects if obj is not None}.values())


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _is_loaded(obj: Any, rel: Any) -> bool:
    d = obj.__dict__
    if rel.many:
        return rel.name in d.get(PREFETCHED, ())
    return rel.name in d


def _loaded_values(objects: list[Any], rel: Any) -> list[Any]:
    if rel.many:
        return _unique(o for obj in objects for o in obj.__dict__[PREFETCHED][rel.name])
    return _unique(obj.__dict__[rel.name] for obj in objects)


def _resolve(model: type[Model], name: str, lookup: str) -> Any:
    plan = model.__sx_plan__
    rel = relation_of(plan, name)
    if rel is None:
        choices = [*plan.relations, *plan.related]
        raise FieldError(
            f"{model.__name__} has no relation {name!r} (in prefetch_related({lookup!r})).\n"
            f"  Relations: {', '.join(choices) or '(none)'}"
        )
    return rel


async def prefetch_related_objects(
    session: Any, objects: Iterable[Any], lookups: Iterable[Any], *, force: bool = False
) -> None:
    """Load the relations named by ``lookups`` (names or :class:`Prefetch`) onto ``objects``.

    Each level of each path is one query (per chunk of keys), whatever the number of
    objects. A level already loaded on every object (by ``select_related`` or an earlier
    lookup) is reused without SQL unless ``force`` (``obj.load()`` always reloads).
    """
    roots = _unique(objects)
    done: dict[str, list[Any]] = {}  # path -> the objects it loaded (repeats possible)
    for item in lookups:
        lookup = as_prefetch(item)
        parts = lookup.lookup.split("__")
        level = roots
        for i, part in enumerate(parts):
            if i:  # the level's objects once each, counted only when a deeper part needs them
                level = _unique(level)
            if not level:
                break
            last = i == len(parts) - 1
            path = lookup.prefetch_to if last else "__".join(parts[: i + 1])
            if path in done and not (last and lookup.queryset is not None):
                level = done[path]
                continue
            loaded: list[Any] = []
            for model, group in _by_model(level):
                rel = _resolve(model, part, lookup.lookup)
                if (
                    not force
                    and not (last and (lookup.queryset is not None or lookup.to_attr))
                    and all(_is_loaded(obj, rel) for obj in group)
                ):
                    loaded.extend(_loaded_values(group, rel))
                    continue
                queryset = lookup.queryset if last else None
                to_attr = lookup.to_attr if last else None
                loaded.extend(await _prefetch_one(session, group, rel, queryset, to_attr))
            level = done[path] = loaded


def _by_model(objects: list[Any]) -> list[tuple[type[Model], list[Any]]]:
    groups: dict[type[Model], list[Any]] = {}
    for obj in objects:
        groups.setdefault(type(obj), []).append(obj)
    return list(groups.items())


async def _prefetch_one(
    session: Any, objects: list[Any], rel: Any, queryset: Any, to_attr: str | None
) -> list[Any]:
    if isinstance(rel, ManyToManyRelation):
        return await _prefetch_many_to_many(session, objects, rel, queryset, to_attr)
    if isinstance(rel, ReverseRelation):
        return await _prefetch_reverse(session, objects, rel, queryset, to_attr)
    return await _prefetch_forward(session, objects, rel, queryset, to_attr)


def _keys(objects: list[Any], field: str) -> list[Any]:
    return list(dict.fromkeys(k for k in (o.__dict__.get(field) for o in objects) if k is not None))


async def _fetch_in(session: Any, queryset: Any, column: Any, keys: list[Any]) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(keys, in_chunk_size(session.dialect)):
        found.extend(await session.fetch_objects(queryset.filter(column.in_(chunk))))
    return found


async def _prefetch_forward(
    session: Any, objects: list[Any], rel: Any, queryset: Any, to_attr: str | None
) -> list[Any]:
    """``book.author`` for many books: one query for the authors not in the identity map."""
    target = target_of(rel)
    plan = target.__sx_plan__
    to_field = key_field(target, rel.to_field)
    keys = _keys(objects, rel.column_name)
    found: dict[Any, Any] = {}
    if queryset is None and plan.pk_names == (to_field,):
        known = session.identity_map.for_plan(plan)
        for key in keys:
            ref = known.get(key)
            obj = ref() if ref is not None else None
            if obj is not None and "_sx_deleted" not in obj.__dict__:
                found[key] = obj
    missing = [k for k in keys if k not in found]
    if missing:
        base = queryset if queryset is not None else target.objects.all()
        for obj in await _fetch_in(session, base, plan.fields[to_field].column, missing):
            found[obj.__dict__[to_field]] = obj
    attr = to_attr or rel.name
    for obj in objects:
        key = obj.__dict__.get(rel.column_name)
        obj.__dict__[attr] = None if key is None else found.get(key)
    return list(found.values())


async def _prefetch_reverse(
    session: Any, objects: list[Any], rel: ReverseRelation, queryset: Any, to_attr: str | None
) -> list[Any]:
    """``author.books`` (or ``user.profile``) for many parents: one query for all children.

    Each child gets its parent (``book.author``) unless it already holds one; a parent's
    group of children becomes its list as it is (the lists are built here), and a second
    parent with the same key (possible only beside a deleted object) gets a copy.
    """
    keys = _keys(objects, rel.source_field)
    base = queryset if queryset is not None else rel.target.objects.all()
    children = await _fetch_in(session, base, rel.target_column, keys) if keys else []
    groups: dict[Any, list[Any]] = {}
    target_field = rel.target_field
    for child in children:
        key = child.__dict__.get(target_field)
        group = groups.get(key)
        if group is None:
            groups[key] = [child]
        else:
            group.append(child)
    forward = rel.forward.name
    source_field = rel.source_field
    handed: dict[Any, list[Any]] = {}
    for obj in objects:
        key = obj.__dict__.get(source_field)
        items = groups.pop(key, None)
        if items is None:
            items = list(handed.get(key, ()))  # its children point to the first parent already
        else:
            handed[key] = items
            for child in items:
                child.__dict__.setdefault(forward, obj)
        _store(obj, rel, items, to_attr, copy=False)
    return children


async def _prefetch_many_to_many(
    session: Any, objects: list[Any], rel: ManyToManyRelation, queryset: Any, to_attr: str | None
) -> list[Any]:
    """``book.tags`` for many books: one query joining the link table, keyed by its source."""
    keys = _keys(objects, rel.source_field)
    base = queryset if queryset is not None else target_of(rel).objects.all()
    groups: dict[Any, list[Any]] = {}
    found: list[Any] = []
    for chunk in _chunks(keys, in_chunk_size(session.dialect)):
        link = LinkFilter(rel, chunk)
        qs = base._with_eager(dataclasses.replace(base._eager, link=link))
        targets = await session.fetch_objects(qs)
        for target, source in zip(targets, link.values, strict=True):
            groups.setdefault(source, []).append(target)
        found.extend(targets)
    for obj in objects:
        _store(obj, rel, groups.get(obj.__dict__.get(rel.source_field), []), to_attr)
    return _unique(found)


def _store(obj: Any, rel: Any, items: list[Any], to_attr: str | None, *, copy: bool = True) -> None:
    """Put ``items`` on ``obj`` (a copy of the list unless ``copy=False`` hands it over)."""
    d = obj.__dict__
    if not rel.many:
        d[to_attr or rel.name] = items[0] if items else None
        return
    if copy:
        items = list(items)
    if to_attr is not None:
        d[to_attr] = items
    else:
        cache = d.get(PREFETCHED)
        if cache is None:
            cache = d[PREFETCHED] = {}
        cache[rel.name] = items


