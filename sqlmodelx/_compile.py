"""A QuerySet compiled into one Core statement, with Django's semantics (L3).

What is decided here, the same for every backend:

- **Names.** Every name from outside (filter keys, ``F`` names, ``order_by``, ``values``)
  is resolved against the model, its relations and the query's annotations. An unknown
  name raises ``FieldError`` naming the model, the closest valid name and all of them.
- **To-one relations** (``author__name``) join once per path: INNER where the foreign key
  cannot be NULL, LEFT where it can (and after any LEFT join).
- **To-many relations in a filter** (``books__title``, a reverse foreign key, or a
  many-to-many that the relations module registers) become ``EXISTS`` semi-joins, so rows
  are never duplicated. Within one ``filter()`` call, conditions on the same relation
  apply to the same related row; a parent with no related row is matched as Django's LEFT
  JOIN would match it, against a row of NULLs (so ``books__title__isnull=True`` keeps
  authors without books). Under a negation (``exclude``, ``~Q``) each condition on a
  to-many relation is its own ``EXISTS``, as Django's ``split_exclude`` makes it.
- **NULL under negation.** A condition on a nullable column is two-valued where Django
  makes it so: ``exclude(name="a")`` keeps rows whose name is NULL, because the condition
  becomes ``NOT (name = 'a' AND name IS NOT NULL)``.
- **Aggregates.** In ``aggregate()`` and ``values(...).annotate(...)`` they run in place
  over LEFT JOINs with GROUP BY (Django's join); in ``annotate()`` on objects each is a
  correlated subquery over its own rows, so combining two never multiplies them.

Nothing here touches a connection: dialect differences live in ``lookups.py`` as
elements compiled per dialect.

Relations come from the plan: ``plan.relations`` (foreign keys) and ``plan.related``
(reverse foreign keys and many-to-many, registered by ``relations.py``: ``kind``,
``model``, ``target``, ``many`` and the key fields). Django's default query name of a
reverse foreign key (the other model's name in lower case, ``book__title``) is found by
scanning the registered models, so it works under both names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.util import ClauseAdapter

from . import registry
from ._validate import _coerce_date, _coerce_int
from .exc import FieldError, NotSupportedError, ValidationError
from .expressions import Expression, F, OrderBy, OuterRef, Q, q_keys, resolve_operand
from .lookups import (
    JsonKey,
    Lookup,
    comparable,
    get_lookup,
    get_transform,
    is_json,
    lookup_names,
    transform_names,
)

if TYPE_CHECKING:
    from .model import FieldSpec, ModelPlan

__all__ = ["Compiler", "field_error", "parse_path", "join_relation", "LOOKUP_SEP"]

LOOKUP_SEP = "__"

_OUTPUT_CONVERTERS: dict[type, Callable[[Any], Any]] = {int: _coerce_int}


def _converter_for(output: type | None) -> Callable[[Any], Any] | None:
    if output is None:
        return None
    if output.__name__ == "date":
        return _coerce_date
    return _OUTPUT_CONVERTERS.get(output)


# --------------------------------------------------------------------------- relations


@dataclass(frozen=True)
class Hop:
    """One join step: to ``table``, matching ``(source key, target key)`` column pairs."""

    table: sa.Table
    pairs: tuple[tuple[str, str], ...]
    model: Any


@dataclass(frozen=True)
class Relation:
    """A named relation of a model, as the hops a path crosses to reach its target."""

    name: str
    hops: tuple[Hop, ...]
    many: bool
    nullable: bool
    target: Any
    label: str = ""
    #: A foreign key of the model itself: its first hop starts at a column of this table.
    forward: bool = False


_reverse_cache: dict[int, tuple[int, dict[str, Relation]]] = {}


def _all_models() -> list[Any]:
    seen: dict[int, Any] = {}
    for models in registry._by_name.values():
        for model in models:
            seen[id(model)] = model
    return list(seen.values())


def reverse_relations(model: Any) -> dict[str, Relation]:
    """Foreign keys of other models that point at ``model``, by Django's query name.

    The name is the relation's ``related_name``, else the other model's name in lower
    case (``Book.author`` -> ``book``); a ``related_name`` ending in ``+`` hides it.
    """
    size = sum(len(m) for m in registry._by_name.values())
    cached = _reverse_cache.get(id(model))
    if cached is not None and cached[0] == size:
        return cached[1]
    found: dict[str, Relation] = {}
    plan = model.__sx_plan__
    for other in _all_models():
        for rel in other.__sx_plan__.relations.values():
            if rel.target is not model:
                continue
            related = rel.related_name
            if related and related.endswith("+"):
                continue
            name = related or other.__name__.lower()
            to_key = plan.fields[rel.to_field or plan.pk_names[0]].column.key
            unique = bool(rel.info.unique or rel.info.primary_key)
            found[name] = Relation(
                name,
                (Hop(other.__table__, ((to_key, rel.column_name),), other),),
                many=not unique,
                nullable=True,
                target=other,
                label=f"reverse of {other.__name__}.{rel.name}",
            )
    _reverse_cache[id(model)] = (size, found)
    return found


def join_relation(plan: ModelPlan, name: str) -> Relation | None:
    """The relation ``name`` of a model: a foreign key, a reverse one, or a registered one."""
    rel = plan.relations.get(name)
    if rel is not None:
        target = rel.target
        if target is None:
            raise FieldError(
                f"{plan.model.__name__}.{name} points at {rel.target_name!r}, which is not defined yet"
            )
        target_plan = target.__sx_plan__
        to_key = target_plan.fields[rel.to_field or target_plan.pk_names[0]].column.key
        return Relation(
            name,
            (Hop(target.__table__, ((rel.column_name, to_key),), target),),
            many=False,
            nullable=bool(rel.nullable),
            target=target,
            forward=True,
        )
    registered = plan.related.get(name)
    if registered is not None:
        found = _registered_relation(name, registered)
        if found is not None:
            return found
    return reverse_relations(plan.model).get(name)


def _registered_relation(name: str, entry: Any) -> Relation | None:
    """A relation the relations module put in ``plan.related`` (reverse FK, many-to-many)."""
    kind = getattr(entry, "kind", None)
    target = getattr(entry, "target", None)
    if target is None:
        return None
    fields = entry.model.__sx_plan__.fields
    target_fields = target.__sx_plan__.fields
    if kind == "reverse":
        hop = Hop(target.__table__, ((fields[entry.source_field].column.key, target_fields[entry.target_field].column.key),), target)
        label = f"reverse of {target.__name__}.{entry.forward.name}"
        return Relation(name, (hop,), many=bool(entry.many), nullable=True, target=target, label=label)
    if kind == "m2m":
        table = entry.table
        if table is None or entry.link_source is None or entry.link_target is None:
            raise FieldError(f"{entry.model.__name__}.{name}: its through model is not defined yet")
        link = Hop(table, ((fields[entry.source_field].column.key, entry.link_source.key),), getattr(entry, "through", None))
        hop = Hop(target.__table__, ((entry.link_target.key, target_fields[entry.target_field].column.key),), target)
        return Relation(name, (link, hop), many=True, nullable=True, target=target, label=f"many-to-many to {target.__name__}")
    hops = getattr(entry, "sx_hops", None)
    if callable(hops):
        steps = tuple(Hop(table, tuple(pairs), model) for table, pairs, model in hops())
        return Relation(name, steps, many=bool(getattr(entry, "many", True)), nullable=True, target=steps[-1].model, label="related")
    return None


def _names(plan: ModelPlan, annotations: Iterable[str] = ()) -> list[str]:
    names: list[str] = [*plan.fields, *plan.relations]
    related: dict[str, Relation | None] = {}
    for name, entry in plan.related.items():
        try:
            related[name] = _registered_relation(name, entry)
        except FieldError:
            related[name] = None
    for name, rel in reverse_relations(plan.model).items():
        related.setdefault(name, rel)
    for name, found in related.items():
        names.append(f"{name} ({found.label})" if found is not None and found.label else name)
    names.extend(f"{n} (annotation)" for n in annotations)
    return names


def field_error(plan: ModelPlan, name: str, context: str, annotations: Iterable[str] = ()) -> FieldError:
    """``FieldError`` naming the model, the bad name, the closest valid one and all of them."""
    names = _names(plan, annotations)
    bare = [n.split(" ", 1)[0] for n in names]
    close = difflib.get_close_matches(str(name), bare, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return FieldError(
        f"{plan.model.__name__} has no field {name!r} (in {context}).{hint}\n"
        f"  Fields: {', '.join(names)}"
    )


def _lookup_error(owner: str, part: str, type_: Any, context: str) -> FieldError:
    options = lookup_names() + transform_names(type_)
    close = difflib.get_close_matches(part, options, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return FieldError(
        f"{owner} has no lookup or transform {part!r} (in {context}).{hint}\n"
        f"  Lookups: {', '.join(lookup_names())}\n"
        f"  Transforms here: {', '.join(transform_names(type_)) or 'none'}"
    )


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class Path:
    """A parsed name: relations crossed, then a field or an annotation, then what follows."""

    key: str
    relations: tuple[Relation, ...]
    field: FieldSpec | None
    annotation: str | None
    rest: tuple[str, ...]
    owner: str

    def many_prefixes(self) -> Iterator[tuple[Relation, ...]]:
        """The relation paths, up to each to-many relation crossed (shortest first)."""
        for i, rel in enumerate(self.relations):
            if rel.many:
                yield self.relations[: i + 1]


def parse_path(
    plan: ModelPlan, key: str, context: str, annotations: Any = (), *, allow_relation_end: bool = True
) -> Path:
    """Split ``key`` into relations, the field (or annotation) and the remaining parts."""
    if not isinstance(key, str):
        raise FieldError(f"{context} takes names as strings, got {type(key).__name__}")
    parts = key.split(LOOKUP_SEP)
    if parts[0] in annotations:
        return Path(key, (), None, parts[0], tuple(parts[1:]), f"annotation {parts[0]!r}")
    relations: list[Relation] = []
    current = plan
    i = 0
    while i < len(parts):
        name = parts[i]
        if name == "pk" and len(current.pk_names) == 1:
            name = current.pk_names[0]
        spec = current.fields.get(name)
        if spec is not None:
            if relations and relations[-1].forward and relations[-1].hops[0].pairs[0][1] == spec.column.key:
                # author__id: the foreign key column already holds it; no join needed.
                current, spec = _foreign_key(plan, relations)
            return Path(key, tuple(relations), spec, None, tuple(parts[i + 1 :]), _owner(current, spec))
        rel = join_relation(current, name) if name else None
        if rel is None:
            if relations and allow_relation_end and get_lookup(name) is not None:
                break
            raise field_error(current, parts[i], context, annotations if not relations else ())
        relations.append(rel)
        current = rel.target.__sx_plan__
        i += 1
    # The path ends at a relation (author=obj, books__isnull=True): compare its key.
    if relations[-1].forward:
        current, spec = _foreign_key(plan, relations)
    else:
        spec = current.fields[current.pk_names[0]]
    return Path(key, tuple(relations), spec, None, tuple(parts[i:]), _owner(current, spec))


def _foreign_key(plan: ModelPlan, relations: list[Relation]) -> tuple[ModelPlan, FieldSpec]:
    """Drop the last (forward) relation; its foreign key column on the model before it."""
    column_key = relations.pop().hops[0].pairs[0][0]
    source = relations[-1].target.__sx_plan__ if relations else plan
    spec = next(s for s in source.fields.values() if s.column.key == column_key)
    return source, spec


def _check_rest(path: Path) -> None:
    """The transforms and lookup after a field exist for its type (JSON keys are free)."""
    if path.field is None:
        return
    sql: Any = sa.column(path.field.name, path.field.column.type)
    for i, part in enumerate(path.rest):
        if is_json(sql.type):
            return
        if i == len(path.rest) - 1 and get_lookup(part) is not None:
            return
        transform = get_transform(part, sql.type)
        if transform is None:
            raise _lookup_error(path.owner, part, sql.type, "filter")
        sql = transform.build(sql)


def _owner(plan: ModelPlan, spec: FieldSpec) -> str:
    return f"{plan.model.__name__}.{spec.name}"


# --------------------------------------------------------------------------- scopes


class Scope:
    """One FROM item being built: a table (or alias, or subquery) and the joins made from it."""

    def __init__(self, plan: ModelPlan, table: Any, *, entry: Any = None) -> None:
        self.plan = plan
        self.table = table
        #: The table standing for the model (differs from ``table`` behind an association table).
        self.entry = entry if entry is not None else table
        self.from_: Any = table
        self.tables: list[Any] = [table]
        self.joins: dict[tuple[str, ...], tuple[Any, bool]] = {}

    def join(self, key: tuple[str, ...], relation: Relation, source: Any, outer: bool) -> tuple[Any, bool]:
        found = self.joins.get(key)
        if found is not None:
            return found
        outer = outer or relation.nullable or relation.many
        current = source
        for hop in relation.hops:
            alias = hop.table.alias()
            on = sa.and_(*(alias.c[target] == current.c[src] for src, target in hop.pairs))
            self.from_ = self.from_.join(alias, on, isouter=outer)
            self.tables.append(alias)
            current = alias
        self.joins[key] = (current, outer)
        return current, outer


def _many_scope(relation: Relation) -> tuple[Scope, list[tuple[str, str]]]:
    """A new scope over a to-many relation's rows, and the pairs linking it to its parent."""
    first = relation.hops[0]
    alias = first.table.alias()
    plan = relation.target.__sx_plan__
    scope = Scope(plan, alias)
    current = alias
    for hop in relation.hops[1:]:
        nxt = hop.table.alias()
        on = sa.and_(*(nxt.c[target] == current.c[src] for src, target in hop.pairs))
        scope.from_ = scope.from_.join(nxt, on)
        scope.tables.append(nxt)
        current = nxt
    scope.entry = current
    return scope, list(first.pairs)


# --------------------------------------------------------------------------- condition trees


@dataclass
class _Leaf:
    key: str
    value: Any
    path: Path
    #: To-many relation paths this leaf reads (its own path and the F names in its value).
    many: list[tuple[Relation, ...]] = field(default_factory=list)
    #: The subset of ``many`` its own column sits behind.
    own: list[tuple[Relation, ...]] = field(default_factory=list)


@dataclass
class _Node:
    connector: str
    negated: bool
    children: list[Any]


@dataclass
class _Raw:
    expression: Any


@dataclass
class _Const:
    value: bool


def _key(relations: tuple[Relation, ...]) -> tuple[str, ...]:
    return tuple(r.name for r in relations)


def _combine(connector: str, parts: list[Any]) -> Any:
    if not parts:
        return sa.true() if connector == Q.AND else sa.false()
    if len(parts) == 1:
        return parts[0]
    return sa.and_(*parts) if connector == Q.AND else sa.or_(*parts)


def _positive_leaves(node: Any) -> Iterator[_Leaf]:
    if isinstance(node, _Leaf):
        yield node
    elif isinstance(node, _Node) and not node.negated:
        for child in node.children:
            yield from _positive_leaves(child)


def _substitute_null(node: Any, key: tuple[str, ...]) -> Any:
    """The tree with every positive condition behind ``key`` answered for a row of NULLs."""
    if isinstance(node, _Leaf):
        behind = [m for m in node.many if _key(m)[: len(key)] == key]
        if not behind:
            return node
        own = any(_key(m)[: len(key)] == key for m in node.own)
        lookup = node.path.rest[-1] if node.path.rest else "exact"
        found = get_lookup(lookup)
        answer = own and found is not None and found.null_row(node.value)
        return _Const(bool(answer))
    if isinstance(node, _Node) and not node.negated:
        return _Node(node.connector, node.negated, [_substitute_null(c, key) for c in node.children])
    return node


def _simplify(node: Any) -> Any:
    if not isinstance(node, _Node):
        return node
    children = [_simplify(c) for c in node.children]
    absorbing = node.connector == Q.OR
    kept = []
    result: _Const | None = None
    for child in children:
        if isinstance(child, _Const):
            if child.value == absorbing:
                result = _Const(absorbing)
                break
            continue
        kept.append(child)
    if result is None and not kept:
        result = _Const(not absorbing)
    if result is not None:
        return _Const(result.value != node.negated)
    return _Node(node.connector, node.negated, kept)


# --------------------------------------------------------------------------- ordering


class SortKey(FunctionElement[Any]):
    """One ORDER BY item. NULLs sort first ascending and last descending on every backend
    (SQLite's and MariaDB's rule; PostgreSQL is told so), unless asked otherwise."""

    inherit_cache = True
    descending = False
    nulls: str | None = None  # "first" / "last" / None (the default rule)


def _sort_key(expression: Any, descending: bool, nulls: str | None) -> Any:
    name = f"SortKey_{'desc' if descending else 'asc'}_{nulls or 'default'}"
    cls = _SORT_KEYS.get(name)
    if cls is None:
        cls = _SORT_KEYS[name] = type(name, (SortKey,), {"descending": descending, "nulls": nulls, "inherit_cache": True})
    return cls(expression)


_SORT_KEYS: dict[str, type[SortKey]] = {}


def _nulls_of(element: SortKey, default_first_when_asc: bool) -> str | None:
    if element.nulls is not None:
        return element.nulls
    if not default_first_when_asc:
        return None
    return "last" if element.descending else "first"


@compiles(SortKey)
def _sort_key_sql(element: SortKey, compiler: Any, **kw: Any) -> str:
    (expression,) = element.clauses
    text = compiler.process(expression, **kw) + (" DESC" if element.descending else " ASC")
    nulls = _nulls_of(element, default_first_when_asc=True)
    if nulls is not None:
        text += f" NULLS {nulls.upper()}"
    return str(text)


@compiles(SortKey, "sqlite")
@compiles(SortKey, "mysql")
def _sort_key_nulls_low(element: SortKey, compiler: Any, **kw: Any) -> str:
    (expression,) = element.clauses
    rendered = compiler.process(expression, **kw)
    text = f"{rendered} {'DESC' if element.descending else 'ASC'}"
    natural = "last" if element.descending else "first"
    if element.nulls is None or element.nulls == natural:
        return text
    if compiler.dialect.name == "sqlite":
        return f"{text} NULLS {element.nulls.upper()}"
    null_first = "DESC" if element.nulls == "first" else "ASC"
    return f"{rendered} IS NULL {null_first}, {text}"


class RandomOrder(FunctionElement[Any]):
    inherit_cache = True


@compiles(RandomOrder)
def _random(element: RandomOrder, compiler: Any, **kw: Any) -> str:
    return "random()"


@compiles(RandomOrder, "mysql")
def _random_mysql(element: RandomOrder, compiler: Any, **kw: Any) -> str:
    return "RAND()"


# --------------------------------------------------------------------------- the compiler


class Compiler:
    """Resolves one QuerySet's names and builds its statements (the ``Resolver`` of expressions).

    ``outer`` is the compiler of the enclosing query (for ``OuterRef``); a nested query's
    table is always an alias, so it never collides with the outer one. ``base`` replaces the
    model's table by another FROM item with the same column keys (a derived table).
    """

    def __init__(
        self,
        qs: Any,
        *,
        outer: Compiler | None = None,
        base: Any = None,
        grouped: bool | None = None,
        annotations: dict[str, Any] | None = None,
    ) -> None:
        self.qs = qs
        self.plan: ModelPlan = qs._plan
        self.outer = outer
        table = base if base is not None else (self.plan.table if outer is None else self.plan.table.alias())
        self.base = Scope(self.plan, table)
        self.adapter = ClauseAdapter(table) if table is not self.plan.table else None
        self.annotations: dict[str, Any] = dict(qs._annotations) if annotations is None else annotations
        self.grouped = qs._group_by is not None if grouped is None else grouped
        self._bindings: dict[tuple[str, ...], Any] = {}
        self._call_bindings: dict[tuple[str, ...], Any] = {}
        self._resolved: dict[str, Any] = {}
        self._resolving: list[str] = []
        #: The expressions ORDER BY sorts on (SELECT DISTINCT shows them).
        self._sorted: list[Any] = []

    # -- names ---------------------------------------------------------------------------

    def parse(self, key: str, context: str) -> Path:
        return parse_path(self.plan, key, context, self.annotations)

    def core(self, expression: Any) -> Any:
        """A user's Core expression, moved onto this query's alias of the model's table."""
        if hasattr(expression, "__clause_element__") and not isinstance(expression, sa.ColumnElement):
            expression = expression.__clause_element__()
        return self.adapter.traverse(expression) if self.adapter is not None else expression

    def _walk(self, relations: tuple[Relation, ...], joined: bool = True) -> tuple[Any, bool]:
        """The table reached by ``relations``: bound to-many scopes first, else joins."""
        scope = self.base
        table = scope.table
        outer = False
        for i, rel in enumerate(relations):
            key = _key(relations[: i + 1])
            if rel.many and key in self._bindings:
                bound = self._bindings[key]
                if bound is None:
                    raise AssertionError("a condition on a NULL row was not answered")  # pragma: no cover
                scope, table, outer = bound, bound.entry, False
                continue
            if rel.many and not joined:
                raise FieldError(f"{self.plan.model.__name__}: {rel.name!r} is a to-many relation")
            table, outer = scope.join(key, rel, table, outer)
        return table, outer

    def target(self, path: Path, context: str) -> tuple[Any, Any, bool, Callable[[Any], Any] | None, list[str]]:
        """``(sql, json_key, nullable, converter, rest)`` for a parsed path before its lookup."""
        if path.annotation is not None:
            sql = self.annotation(path.annotation)
            nullable = False
            convert = None
        else:
            assert path.field is not None
            table, outer = self._walk(path.relations)
            sql = table.c[path.field.column.key]
            nullable = bool(path.field.nullable or outer)
            convert = self._converter(path)
        rest = list(path.rest)
        json_key: JsonKey | None = None
        consumed: list[str] = []
        while rest:
            part = rest[0]
            if json_key is not None or (is_json(sql.type) and get_transform(part, sql.type) is None):
                if len(rest) == 1 and get_lookup(part) is not None and context == "filter":
                    break
                json_key = (json_key or JsonKey(sql, ())).child(part)
                convert = None
            else:
                transform = get_transform(part, sql.type)
                if transform is None:
                    break
                sql = transform.build(sql)
                convert = _converter_for(transform.output)
            consumed.append(rest.pop(0))
        return sql, json_key, nullable, convert, rest

    def _converter(self, path: Path) -> Callable[[Any], Any] | None:
        spec = path.field
        assert spec is not None
        if spec.relation is not None:
            owner = path.relations[-1].target.__sx_plan__ if path.relations else self.plan
            rel = owner.relations[spec.relation]
            if rel.target is not None:
                target_plan = rel.target.__sx_plan__
                return target_plan.fields[rel.to_field or target_plan.pk_names[0]].to_python
        return spec.to_python

    def column(self, path: str, context: str) -> ColumnElement[Any]:
        parsed = self.parse(path, context)
        sql, json_key, _, _, rest = self.target(parsed, context)
        if rest:
            raise _lookup_error(parsed.owner, rest[0], sql.type, context)
        return json_key.value() if json_key is not None else sql  # type: ignore[no-any-return]

    def annotation(self, name: str) -> Any:
        if name in self._resolved:
            return self._resolved[name]
        if name in self._resolving:
            raise FieldError(f"annotation {name!r} refers to itself")
        self._resolving.append(name)
        saved = self._bindings
        self._bindings = {}
        try:
            expression = self.annotations[name]
            sql = self.core(expression) if _is_core(expression) else resolve_operand(expression, self)
        finally:
            self._bindings = saved
            self._resolving.pop()
        self._resolved[name] = sql
        return sql

    def outer_column(self, path: str) -> ColumnElement[Any]:
        if self.outer is None:
            raise FieldError(f"OuterRef({path!r}) is only valid inside Subquery() or Exists()")
        return self.outer.column(path, "OuterRef")

    def value(self, value: Any, like: ColumnElement[Any] | None = None) -> Any:
        if like is not None:
            return sa.literal(value, like.type)
        return sa.literal(value)

    # -- conditions ----------------------------------------------------------------------

    def leaf(self, key: str, value: Any) -> _Leaf:
        if not isinstance(key, str):
            raise FieldError(f"filter keys must be strings, got {type(key).__name__}")
        path = self.parse(key, "filter")
        _check_rest(path)
        leaf = _Leaf(key, value, path)
        leaf.own = list(path.many_prefixes())
        leaf.many = list(leaf.own)
        if isinstance(value, Expression):
            for name in value.refs():
                for prefix in self.parse(name, "F()").many_prefixes():
                    if prefix not in leaf.many:
                        leaf.many.append(prefix)
        leaf.many.sort(key=len)
        return leaf

    def tree(self, q: Any) -> Any:
        if isinstance(q, Q):
            children = []
            for child in q.children:
                if isinstance(child, Q):
                    children.append(self.tree(child))
                elif isinstance(child, tuple):
                    if len(child) != 2:
                        raise FieldError(f"a filter condition is a (name, value) pair, got {child!r}")
                    children.append(self.leaf(child[0], child[1]))
                else:
                    children.append(_Raw(child))
            return _Node(q.connector, q.negated, children)
        return _Raw(q)

    def filter_condition(self, q: Any) -> ColumnElement[bool]:
        """One ``filter()`` call: same related row within it, EXISTS for to-many relations."""
        saved = self._call_bindings
        self._call_bindings = dict(self._bindings)
        try:
            return self._exists_tree(self.tree(q), dict(self._bindings))  # type: ignore[no-any-return]
        finally:
            self._call_bindings = saved

    def condition(self, q: Q) -> ColumnElement[bool]:
        """A ``Q`` inside an expression (``When``, ``filter=``): to-many relations are joined."""
        saved = self._bindings
        try:
            return self._render(self.tree(q), False, split=False)  # type: ignore[no-any-return]
        finally:
            self._bindings = saved

    def _first_unbound(self, tree: Any, bindings: dict[tuple[str, ...], Any]) -> tuple[Relation, ...] | None:
        for leaf in _positive_leaves(tree):
            for prefix in leaf.many:
                if _key(prefix) not in bindings:
                    return prefix
        return None

    def _exists_tree(self, tree: Any, bindings: dict[tuple[str, ...], Any]) -> Any:
        prefix = self._first_unbound(tree, bindings)
        if prefix is None:
            saved = self._bindings
            self._bindings = bindings
            try:
                return self._render(tree, False, split=True)
            finally:
                self._bindings = saved
        key = _key(prefix)
        relation = prefix[-1]
        scope, pairs = _many_scope(relation)
        inner = self._exists_tree(tree, {**bindings, key: scope})
        exists = self._exists(scope, pairs, prefix, bindings, inner)
        null_tree = _simplify(_substitute_null(tree, key))
        if isinstance(null_tree, _Const) and not null_tree.value:
            return exists
        empty_scope, empty_pairs = _many_scope(relation)
        empty = sa.not_(self._exists(empty_scope, empty_pairs, prefix, bindings, None))
        if isinstance(null_tree, _Const):
            residual: Any = None
        else:
            residual = self._exists_tree(null_tree, {**bindings, key: None})
        return sa.or_(exists, empty if residual is None else sa.and_(empty, residual))

    def _exists(
        self,
        scope: Scope,
        pairs: list[tuple[str, str]],
        prefix: tuple[Relation, ...],
        bindings: dict[tuple[str, ...], Any],
        inner: Any,
    ) -> Any:
        saved = self._bindings
        self._bindings = bindings
        try:
            parent, _ = self._walk(prefix[:-1])
        finally:
            self._bindings = saved
        link = [scope.table.c[target] == parent.c[src] for src, target in pairs]
        conditions = [*link, inner] if inner is not None else link
        stmt: Any = (
            sa.select(sa.literal_column("1"))
            .select_from(scope.from_)
            .where(*conditions)
            .correlate_except(*scope.tables)
        )
        return stmt.exists()

    def _render(self, node: Any, negated: bool, *, split: bool) -> Any:
        if isinstance(node, _Const):
            return sa.true() if node.value else sa.false()
        if isinstance(node, _Raw):
            return self._raw_condition(node.expression)
        if isinstance(node, _Leaf):
            if negated and split and node.many:
                saved = self._bindings
                try:
                    return self._exists_tree(_Node(Q.AND, False, [node]), dict(self._call_bindings))
                finally:
                    self._bindings = saved
            return self._leaf_sql(node, negated)
        inside = negated or node.negated
        parts = [self._render(child, inside, split=split) for child in node.children]
        clause = _combine(node.connector, parts)
        return sa.not_(clause) if node.negated else clause

    def _raw_condition(self, expression: Any) -> Any:
        if isinstance(expression, Q):
            return self.condition(expression)
        if isinstance(expression, Expression):
            return expression.resolve(self)
        if isinstance(expression, (sa.ColumnElement, sa.sql.ClauseElement)) or hasattr(expression, "__clause_element__"):
            return self.core(expression)
        if isinstance(expression, bool):
            return sa.true() if expression else sa.false()
        raise TypeError(
            f"filter() takes Q objects, expressions and name=value lookups, not {type(expression).__name__}"
        )

    def _leaf_sql(self, leaf: _Leaf, negated: bool) -> Any:
        path = leaf.path
        lhs, json_key, nullable, convert, rest = self.target(path, "filter")
        if len(rest) > 1:
            raise _lookup_error(path.owner, rest[0], lhs.type, "filter")
        lookup_name = rest[0] if rest else "exact"
        lookup = get_lookup(lookup_name)
        if lookup is None:
            raise _lookup_error(path.owner, lookup_name, lhs.type, "filter")
        value, value_nullable = self._prepare(leaf, lookup, convert)
        if json_key is not None:
            build_json = getattr(lookup, "build_json", None)
            condition = build_json(json_key, value) if build_json else lookup.build(json_key.text(), value)
        else:
            condition = lookup.build(lhs, value)
        if negated and lookup.name != "isnull" and value is not None:
            guards = []
            if nullable and path.annotation is None:
                guards.append(self._guard_column(path))
            guards.extend(value_nullable)
            if guards:
                condition = sa.and_(condition, *(g.is_not(None) for g in guards))
        return condition

    def _guard_column(self, path: Path) -> Any:
        assert path.field is not None
        table, _ = self._walk(path.relations)
        return table.c[path.field.column.key]

    def _prepare(self, leaf: _Leaf, lookup: Lookup, convert: Callable[[Any], Any] | None) -> tuple[Any, list[Any]]:
        value = leaf.value
        if isinstance(value, Expression):
            nullable: list[Any] = []
            if isinstance(value, F) and not isinstance(value, OuterRef):
                parsed = self.parse(value.name, "F()")
                if parsed.field is not None and not parsed.rest:
                    table, outer = self._walk(parsed.relations)
                    if parsed.field.nullable or outer:
                        nullable.append(table.c[parsed.field.column.key])
            return value.resolve(self), nullable
        if _is_queryset(value):
            return self.subquery(value, for_in=True), []
        if isinstance(value, (sa.ColumnElement, sa.Select)) or hasattr(value, "__clause_element__"):
            return self.core(value), []
        return prepare_value(self.plan, leaf.key, lookup, value, convert), []

    # -- aggregates and subqueries ----------------------------------------------------------

    def aggregate(self, aggregate: Any) -> ColumnElement[Any]:
        """In place when grouped; else a correlated subquery over this row's own rows.

        An aggregate reading one to-many relation only (``Count("books")``,
        ``Sum("books__pages", filter=Q(books__title__startswith="A"))``) reads that
        relation's table directly; any other one reads a self-joined copy of the row.
        """
        if self.grouped:
            return aggregate.sql(self)  # type: ignore[no-any-return]
        rows = Compiler(self.qs, outer=self, grouped=True, annotations=self.annotations)
        relation = self._only_relation(aggregate)
        if relation is not None:
            scope, pairs = _many_scope(relation)
            rows._bindings = {(relation.name,): scope}
            link = [scope.table.c[target] == self.base.table.c[src] for src, target in pairs]
        else:
            scope = rows.base
            link = [scope.table.c[key] == self.base.table.c[key] for key in self._pk_keys()]
        sql = aggregate.sql(rows)
        stmt = sa.select(sql).select_from(scope.from_).where(*link).correlate_except(*scope.tables)
        return stmt.scalar_subquery()

    def _pk_keys(self) -> list[str]:
        return [self.plan.fields[n].column.key for n in self.plan.pk_names]

    def _only_relation(self, aggregate: Any) -> Relation | None:
        """The to-many relation every name of an aggregate starts with, if there is one."""
        expression = aggregate.expression
        names = list(expression.refs()) if isinstance(expression, Expression) else []
        if aggregate.filter is not None:
            names.extend(q_keys(aggregate.filter))
        first: Relation | None = None
        for name in names:
            path = self.parse(name, "aggregate")
            if not path.relations or not path.relations[0].many:
                return None
            if first is not None and path.relations[0].name != first.name:
                return None
            first = path.relations[0]
        return first

    def subquery(self, queryset: Any, *, exists: bool = False, for_in: bool = False) -> Any:
        """``queryset`` compiled inside this query: its table aliased, OuterRef bound here."""
        inner = Compiler(queryset, outer=self)
        if queryset._combinator is not None:
            derived = inner.compound().subquery()
            return sa.select(derived.c[inner.single_key()])
        if exists:
            stmt = inner.select(columns=[sa.literal_column("1")], ordered=False)
        else:
            stmt = inner.select(columns=inner.single_column())
        stmt = stmt.correlate_except(*inner.base.tables)
        if for_in and (queryset._limit is not None or queryset._offset):
            derived = stmt.subquery()
            stmt = sa.select(*derived.c)
        return stmt

    def single_key(self) -> str:
        qs = self.qs._combinator[1][0] if self.qs._combinator is not None else self.qs
        if qs._values is not None:
            names = qs._values_names()
            if len(names) != 1:
                raise FieldError(f"a subquery must select one column, this one selects {len(names)}")
            return str(names[0])
        return self.plan.fields[self.plan.pk_names[0]].column.key

    def single_column(self) -> list[Any]:
        qs = self.qs
        if qs._values is not None:
            columns = self.values_columns()
            if len(columns) != 1:
                raise FieldError(f"a subquery must select one column, this one selects {len(columns)}")
            return columns
        return [self.base.table.c[self.plan.fields[n].column.key] for n in self.plan.pk_names]

    # -- statements ------------------------------------------------------------------------

    def where(self) -> tuple[list[Any], list[Any]]:
        """The WHERE and HAVING conditions (HAVING: calls reading an aggregate, when grouped)."""
        where: list[Any] = []
        having: list[Any] = []
        for entry in self.qs._where:
            condition = self.filter_condition(entry)
            (having if self.grouped and self._reads_aggregate(entry) else where).append(condition)
        if self.qs._empty:
            where.append(sa.false())
        return where, having

    def _reads_aggregate(self, entry: Any) -> bool:
        if isinstance(entry, Q):
            keys = list(q_keys(entry))
            raws = [c for c in _raw_children(entry)]
        else:
            keys, raws = [], [entry]
        for key in keys:
            head = key.split(LOOKUP_SEP, 1)[0]
            if head in self.annotations and _has_aggregate(self.annotations[head], self.annotations):
                return True
        return any(_has_aggregate(r, self.annotations) for r in raws)

    def object_columns(self) -> list[Any]:
        table = self.base.table
        columns = [table.c[self.plan.fields[n].column.key] for n in self.qs._load_fields]
        for name in self.qs._selected_annotations():
            columns.append(_labelled(self.annotation(name), name))
        return columns

    def values_columns(self) -> list[Any]:
        qs = self.qs
        binary = bool(qs._distinct or self.grouped or qs._combinator)
        columns = []
        for name in qs._values_names():
            sql = self.annotation(name) if name in self.annotations else self.column(name, "values")
            if binary:
                sql = comparable(sql)
            columns.append(_labelled(sql, name))
        return columns

    def order_clauses(self) -> list[Any]:
        clauses = []
        for item in self.qs._ordering():
            clauses.extend(self.order_item(item))
        return clauses

    def order_item(self, item: Any) -> list[Any]:
        if isinstance(item, str):
            if item == "?":
                return [RandomOrder()]
            descending = item.startswith("-")
            name = item[1:] if descending else item
            path = self.parse(name, "order_by")
            sql, json_key, nullable, _, rest = self.target(path, "order_by")
            if rest:
                raise _lookup_error(path.owner, rest[0], sql.type, "order_by")
            if json_key is not None:
                sql, nullable = json_key.text(), True
            elif path.annotation is not None:
                nullable = True
            return [self._sort(sql, descending, None, nullable)]
        if isinstance(item, OrderBy):
            expression = item.expression
            sql = self.core(expression) if _is_core(expression) else resolve_operand(expression, self)
            nulls = "first" if item.nulls_first else "last" if item.nulls_last else None
            return [self._sort(sql, item.descending, nulls, True)]
        if isinstance(item, Expression):
            return [self._sort(item.resolve(self), False, None, True)]
        return [self.core(item)]

    def _sort(self, sql: Any, descending: bool, nulls: str | None, nullable: bool) -> Any:
        self._sorted.append(sql)
        sql = comparable(sql)
        if nulls is None and not nullable:
            return sql.desc() if descending else sql.asc()
        return _sort_key(sql, descending, nulls)

    def group_by(self) -> list[Any]:
        """The values() names given before the aggregate, plus non-aggregate annotations shown."""
        qs = self.qs
        clauses = []
        for name in qs._group_by:
            sql = self.annotation(name) if name in self.annotations else self.column(name, "values")
            clauses.append(comparable(sql))
        for name in qs._values_names():
            shown = name in self.annotations and name not in qs._group_by
            if shown and not _has_aggregate(self.annotations[name], self.annotations):
                clauses.append(comparable(self.annotation(name)))
        return clauses

    def select(self, *, columns: list[Any] | None = None, ordered: bool = True) -> Any:
        """The SELECT of the QuerySet (or of ``columns`` under its conditions)."""
        qs = self.qs
        if qs._combinator is not None:
            if columns is not None:
                raise NotSupportedError(f"this is not available after {qs._combinator[0]}()")
            return self.compound()
        where, having = self.where()
        if columns is None:
            columns = self.values_columns() if qs._values is not None else self.object_columns()
        group = self.group_by() if self.grouped else []
        order = self.order_clauses() if ordered else []
        if qs._distinct and not qs._distinct_fields:
            # SELECT DISTINCT must show what it orders by (Django adds it to the columns too).
            shown = {id(c) for c in columns}
            extra = [e for e in self._sorted if id(e) not in shown and not isinstance(e, RandomOrder)]
            columns = [*columns, *(e.label(f"_order_{i}") for i, e in enumerate(extra))]
        stmt = sa.select(*columns).select_from(self.base.from_)
        if where:
            stmt = stmt.where(*where)
        if group:
            stmt = stmt.group_by(*group)
        if having:
            stmt = stmt.having(*having)
        if order:
            stmt = stmt.order_by(*order)
        if qs._distinct_fields:
            stmt = stmt.ext(_distinct_on([self.column(n, "distinct") for n in qs._distinct_fields]))
        elif qs._distinct:
            stmt = stmt.distinct()
        if qs._limit is not None:
            stmt = stmt.limit(qs._limit)
        if qs._offset:
            stmt = stmt.offset(qs._offset)
        if qs._for_update is not None:
            stmt = self._for_update(stmt)
        return stmt

    def _for_update(self, stmt: Any) -> Any:
        options = dict(self.qs._for_update)
        of_names = options.pop("of", ())
        of = []
        for name in of_names:
            if name == "self":
                of.append(self.base.table)
            else:
                table, _ = self._walk(_relation_path(self.plan, name, "select_for_update(of=...)"))
                of.append(table)
        return stmt.with_for_update(of=of or None, **options)

    def compound(self) -> Any:
        operation, members, keep_all = self.qs._combinator
        selects = []
        for member in members:
            stmt = Compiler(member).select()
            if member._limit is not None or member._offset or member._order:
                stmt = sa.select(*stmt.subquery().c)
            selects.append(stmt)
        builder = {
            "union": sa.union_all if keep_all else sa.union,
            "intersection": sa.intersect_all if keep_all else sa.intersect,
            "difference": sa.except_all if keep_all else sa.except_,
        }[operation]
        compound = builder(*selects)
        qs = self.qs
        order = []
        for item in qs._ordering():
            if not isinstance(item, str) or item == "?":
                raise NotSupportedError("a combined query orders by column names only: order_by('name', '-id')")
            descending = item.startswith("-")
            name = item[1:] if descending else item
            key = self._compound_key(name)
            column = compound.selected_columns[key]
            order.append(_sort_key(comparable(column), descending, None))
        if order:
            compound = compound.order_by(*order)
        if qs._limit is not None:
            compound = compound.limit(qs._limit)
        if qs._offset:
            compound = compound.offset(qs._offset)
        return compound

    def _compound_key(self, name: str) -> str:
        qs = self.qs._combinator[1][0]
        if qs._values is not None:
            if name in qs._values_names():
                return name
        else:
            if name == "pk":
                name = self.plan.pk_names[0]
            spec = self.plan.fields.get(name)
            if spec is not None and name in qs._load_fields:
                return spec.column.key
            if name in qs._selected_annotations():
                return name
        raise field_error(self.plan, name, "order_by of a combined query")

    # -- statements for terminals --------------------------------------------------------

    def is_simple(self) -> bool:
        qs = self.qs
        return not (
            qs._limit is not None
            or qs._offset
            or qs._distinct
            or qs._distinct_fields
            or self.grouped
            or qs._combinator is not None
        )

    def count(self) -> Any:
        if self.is_simple():
            where, _ = self.where()
            stmt = sa.select(sa.func.count()).select_from(self.base.from_)
            return stmt.where(*where) if where else stmt
        inner = self.select(ordered=self.qs._limit is not None or bool(self.qs._offset)).subquery()
        return sa.select(sa.func.count()).select_from(inner)

    def exists(self) -> Any:
        if self.is_simple():
            where, _ = self.where()
            stmt: Any = sa.select(sa.literal_column("1")).select_from(self.base.from_)
            if where:
                stmt = stmt.where(*where)
            return sa.select(sa.exists(stmt.limit(1)))
        inner = self.select().subquery()
        return sa.select(sa.exists(sa.select(sa.literal_column("1")).select_from(inner)))

    def aggregate_select(self, aggregates: dict[str, Any]) -> Any:
        qs = self.qs
        if self.is_simple() and not self.annotations:
            compiler = self
            compiler.grouped = True
            where, _ = compiler.where()
        else:
            inner = self.select(ordered=qs._limit is not None or bool(qs._offset))
            if qs._values is None and qs._combinator is None:
                extra = [_labelled(self.annotation(n), n) for n in self.annotations if n not in qs._selected_annotations()]
                inner = inner.add_columns(*extra) if extra else inner
            derived = inner.subquery()
            keys = {spec.column.key for spec in self.plan.fields.values()}
            wrapped = {k: derived.c[k] for k in derived.c.keys() if k not in keys}  # noqa: SIM118
            compiler = Compiler(qs, base=derived, grouped=True, annotations=wrapped)
            where = []
        columns = [_labelled(resolve_operand(a, compiler), name) for name, a in aggregates.items()]
        stmt = sa.select(*columns).select_from(compiler.base.from_)
        return stmt.where(*where) if where else stmt

    def pk_subquery(self) -> Any:
        """``pk IN (...)`` over this query, in a derived table (MariaDB cannot read the
        table it changes, nor LIMIT inside IN, except through one)."""
        pk = [self.base.table.c[self.plan.fields[n].column.key] for n in self.plan.pk_names]
        if len(pk) != 1:
            raise NotSupportedError(f"{self.plan.model.__name__} has a composite key: update()/delete() "
                                    "across relations need a single-column primary key")
        inner = self.select(columns=pk).subquery()
        return pk[0].in_(sa.select(*inner.c))


def prepare_value(plan: ModelPlan, key: str, lookup: Lookup, value: Any, convert: Callable[[Any], Any] | None) -> Any:
    """A filter's plain value as ``lookup`` binds it; ``ValidationError`` when it cannot be.

    Shared by the compiler and the statement templates of ``_shape.py``, so both accept,
    convert and refuse a value alike.
    """
    value = _model_key(value)
    if lookup.name == "in" and isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        value = [_model_key(v) for v in value]
    try:
        return lookup.prepare(value, convert)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            plan.model.__name__, [{"field": key, "value": value, "message": f"cannot be compared: {exc}"}]
        ) from None


def _relation_path(plan: ModelPlan, name: str, context: str) -> tuple[Relation, ...]:
    """``"author__publisher"`` as the relations it names."""
    relations = []
    current = plan
    for part in name.split(LOOKUP_SEP):
        rel = join_relation(current, part)
        if rel is None:
            raise field_error(current, part, context)
        relations.append(rel)
        current = rel.target.__sx_plan__
    return tuple(relations)


def _raw_children(q: Q) -> Iterator[Any]:
    for child in q.children:
        if isinstance(child, Q):
            yield from _raw_children(child)
        elif not isinstance(child, tuple):
            yield child


def _distinct_on(columns: list[Any]) -> Any:
    from sqlalchemy.dialects.postgresql import distinct_on

    return distinct_on(*columns)


def _labelled(sql: Any, name: str) -> Any:
    if not isinstance(sql, sa.ColumnElement):
        sql = sa.literal(sql)
    return sql.label(name)


def _is_core(value: Any) -> bool:
    return not isinstance(value, Expression) and (
        isinstance(value, sa.sql.ClauseElement) or hasattr(value, "__clause_element__")
    )


def _is_queryset(value: Any) -> bool:
    return hasattr(value, "_plan") and hasattr(value, "_where") and hasattr(value, "_clone")


def _model_key(value: Any) -> Any:
    """A model instance compared with a relation stands for its primary key."""
    plan = getattr(type(value), "__sx_plan__", None)
    if plan is not None and hasattr(value, "__dict__") and not isinstance(value, type):
        return value.pk
    return value


def _has_aggregate(expression: Any, annotations: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether an expression is or reads an aggregate (through annotation names too)."""
    if getattr(expression, "contains_aggregate", False):
        return True
    if isinstance(expression, Expression):
        for name in expression.refs():
            head = name.split(LOOKUP_SEP, 1)[0]
            if (
                head in annotations
                and head not in seen
                and _has_aggregate(annotations[head], annotations, seen | {head})
            ):
                return True
    return False


has_aggregate = _has_aggregate
