"""What a query loads besides its own rows: ``select_related`` joins and ``Prefetch`` specs (L3).

A QuerySet keeps its eager-loading options in one frozen :class:`EagerOptions` (shared by
its copies). When the QuerySet builds its statement, :meth:`EagerOptions.extend` joins the
``select_related`` paths and appends their columns after the query's own, and returns the
:class:`JoinedRelation` nodes that say where each related object's columns start. The
session hydrates them and runs the prefetches (:mod:`sqlmodelx.prefetch`, L4). Nothing here
runs SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .exc import FieldError
from .model import ModelPlan
from .relations import ManyToManyRelation, key_field, relation_of, target_of

__all__ = [
    "NO_EAGER",
    "EagerOptions",
    "JoinedRelation",
    "LinkFilter",
    "Prefetch",
    "add_select_related",
    "as_prefetch",
    "check_select_related",
    "default_select_related",
]


# --------------------------------------------------------------------------- select_related


@dataclass(frozen=True)
class JoinedRelation:
    """One to-one relation loaded by a JOIN: its columns start at ``offset`` in each row.

    ``parent`` indexes the node whose objects receive the loaded object under ``attr``
    (-1: the query's own model).
    """

    attr: str
    parent: int
    plan: ModelPlan
    names: tuple[str, ...]
    offset: int
    #: ``row -> primary key`` of the related object, as the loader computes it (a value,
    #: or a tuple for a composite key).
    key_of: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positions = [self.names.index(n) + self.offset for n in self.plan.pk_names]
        getter = operator.itemgetter(*positions)
        object.__setattr__(self, "key_of", getter)


def _to_one_hops(plan: ModelPlan, path: str) -> list[tuple[str, Any]]:
    hops: list[tuple[str, Any]] = []
    current = plan
    for part in path.split("__"):
        rel = relation_of(current, part)
        if rel is None or (rel.kind != "forward" and rel.many):
            choices = [n for n, r in {**current.relations, **current.related}.items() if r.kind == "forward" or not r.many]
            hint = (
                f"; {part!r} is a to-many relation: use prefetch_related({path!r})"
                if rel is not None
                else ""
            )
            raise FieldError(
                f"{current.model.__name__} has no to-one relation {part!r} (in select_related{hint}).\n"
                f"  Choices: {', '.join(choices) or '(none)'}"
            )
        hops.append((part, rel))
        current = target_of(rel).__sx_plan__
    return hops


def check_select_related(plan: ModelPlan, paths: Iterable[str]) -> None:
    """Raise ``FieldError`` now for a path that is not a chain of to-one relations."""
    for path in paths:
        if not isinstance(path, str):
            raise FieldError(f"select_related takes relation names as strings, got {type(path).__name__}")
        _to_one_hops(plan, path)


def default_select_related(plan: ModelPlan, depth: int = 5) -> tuple[str, ...]:
    """``select_related()`` without names: every non-null foreign key, recursively (Django)."""
    paths: list[str] = []

    def walk(current: ModelPlan, prefix: str, seen: tuple[ModelPlan, ...]) -> None:
        for name, rel in current.relations.items():
            if rel.nullable or rel.target is None:
                continue
            target_plan = rel.target.__sx_plan__
            if target_plan in seen or len(seen) > depth:
                continue
            path = f"{prefix}{name}"
            paths.append(path)
            walk(target_plan, f"{path}__", (*seen, target_plan))

    walk(plan, "", (plan,))
    return tuple(paths)


def add_select_related(
    plan: ModelPlan, stmt: sa.Select[Any], paths: Iterable[str]
) -> tuple[sa.Select[Any], tuple[JoinedRelation, ...]]:
    """Join the to-one ``paths`` onto ``stmt`` and select their columns after the others.

    Each relation is joined once (``author`` and ``author__publisher`` share the author
    join), through an alias so filters' own joins never clash; the join is LEFT OUTER
    when the foreign key is nullable, the reverse of a one-to-one, or under an outer join.
    """
    nodes: list[JoinedRelation] = []
    index: dict[str, tuple[int, sa.FromClause, bool]] = {}
    width = len(stmt.selected_columns)  # then counted: each len() builds a column collection
    for path in paths:
        parent, outer = -1, False
        parent_from: sa.FromClause = plan.table
        prefix = ""
        for part, rel in _to_one_hops(plan, path):
            prefix = f"{prefix}__{part}" if prefix else part
            known = index.get(prefix)
            if known is not None:
                parent, parent_from, outer = known
                continue
            target = target_of(rel)
            alias = target.__table__.alias()
            if rel.kind == "forward":
                to_field = key_field(target, rel.to_field)
                on = alias.c[to_field] == parent_from.c[rel.column_name]
                outer = outer or rel.nullable
            else:
                on = alias.c[rel.target_field] == parent_from.c[rel.source_field]
                outer = True
            stmt = stmt.join(alias, on, isouter=outer)
            target_plan = target.__sx_plan__
            names = target_plan.field_names
            nodes.append(JoinedRelation(part, parent, target_plan, names, width))
            stmt = stmt.add_columns(*(alias.c[n] for n in names))
            width += len(names)
            parent = len(nodes) - 1
            index[prefix] = (parent, alias, outer)
            parent_from = alias
    return stmt, tuple(nodes)


# --------------------------------------------------------------------------- prefetch spec


class Prefetch:
    """``prefetch_related(sx.Prefetch("books", queryset=Book.objects.filter(...), to_attr="recent"))``.

    ``lookup`` is a relation path (``"books__tags"``); ``queryset`` filters and orders the
    objects of its last relation; ``to_attr`` stores them as a plain list on that
    attribute instead of in the manager's cache.
    """

    __slots__ = ("lookup", "queryset", "to_attr")

    def __init__(self, lookup: str, queryset: Any = None, to_attr: str | None = None) -> None:
        if not isinstance(lookup, str) or not lookup:
            raise TypeError(f"Prefetch() takes a relation path as a string, not {lookup!r}")
        if queryset is not None and (getattr(queryset, "_limit", None) is not None or getattr(queryset, "_offset", None) is not None):
            raise ValueError("Prefetch querysets cannot be sliced (limit the rows per parent in Python)")
        if to_attr is not None and not to_attr.isidentifier():
            raise ValueError(f"to_attr={to_attr!r} is not an identifier")
        self.lookup = lookup
        self.queryset = queryset
        self.to_attr = to_attr

    @property
    def prefetch_to(self) -> str:
        """The path the loaded objects are known by (the lookup, its last part renamed by to_attr)."""
        if self.to_attr is None:
            return self.lookup
        head, _, _ = self.lookup.rpartition("__")
        return f"{head}__{self.to_attr}" if head else self.to_attr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prefetch) and (self.lookup, self.queryset, self.to_attr) == (
            other.lookup,
            other.queryset,
            other.to_attr,
        )

    def __hash__(self) -> int:
        return hash((self.lookup, self.to_attr))

    def __repr__(self) -> str:
        return f"Prefetch({self.lookup!r}, queryset={self.queryset!r}, to_attr={self.to_attr!r})"


def as_prefetch(item: Any) -> Prefetch:
    if isinstance(item, Prefetch):
        return item
    if isinstance(item, str):
        return Prefetch(item)
    raise TypeError(f"prefetch_related takes relation names or sx.Prefetch(...), not {type(item).__name__}")


@dataclass(frozen=True)
class EagerOptions:
    """What a QuerySet loads besides its own rows (kept on the QuerySet, shared by copies)."""

    select_related: tuple[str, ...] = ()
    prefetch: tuple[Prefetch, ...] = ()
    #: Internal (many-to-many prefetch): join the link table, select its source key.
    link: Any = None

    def extend(self, plan: ModelPlan, stmt: sa.Select[Any]) -> tuple[sa.Select[Any], tuple[JoinedRelation, ...]]:
        joins: tuple[JoinedRelation, ...] = ()
        if self.select_related:
            stmt, joins = add_select_related(plan, stmt, self.select_related)
        if self.link is not None:
            stmt = self.link.extend(stmt)
        return stmt, joins


NO_EAGER = EagerOptions()


class LinkFilter:
    """Internal, for a many-to-many prefetch: the target rows linked to ``keys``.

    Joins the link table onto the target's query and selects the source key after every
    other column (at ``offset``); the rows' keys are collected into ``values``.
    """

    __slots__ = ("relation", "keys", "offset", "values")

    def __init__(self, relation: ManyToManyRelation, keys: list[Any]) -> None:
        self.relation = relation
        self.keys = keys
        self.offset = -1
        self.values: list[Any] = []

    def extend(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        _, table, link_source, link_target = self.relation._bound()
        link = table.alias()
        stmt = stmt.join(link, link.c[link_target.key] == self.relation.target_column)
        stmt = stmt.where(link.c[link_source.key].in_(self.keys))
        self.offset = len(stmt.selected_columns)
        return stmt.add_columns(link.c[link_source.key])
