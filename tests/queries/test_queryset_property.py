"""Random filter/exclude/Q trees: sqlmodelx on each backend == a Python model of Django's rules.

The table holds 300 random rows (NULLs, unicode, ``%``, ``_``, ``\\``, quotes, GLOB and
LIKE wildcards, mixed case, trailing spaces) with 0-3 related items each. Hypothesis draws
one or two ``filter()``/``exclude()`` calls of Q trees over the rows' fields, the items'
fields (a to-many relation) and ``F()`` references; the ids the database returns must be
exactly the ids :func:`django_holds` computes, with no row twice.

The Python model states Django's semantics directly:

- a condition is true only when its comparison is true: a NULL operand makes it false,
  except ``isnull`` and ``exact=None``, so ``exclude()`` / ``~Q`` keep NULL rows;
- within one ``filter()`` call, the conditions on ``items`` that are not under a negation
  read the same item; a row without items is matched against an item of NULLs;
- a condition on ``items`` under a negation asks "is there such an item" on its own
  (Django's ``split_exclude``);
- separate calls are separate conditions (each may use another item).

Hypothesis runs the queries from a worker thread with its own event loop and its own
``Database`` on the same server, so it can shrink a failing tree as usual.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Coroutine
from functools import reduce
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlmodelx as sx
from sqlmodelx import F, Q


class QRow(sx.Model):
    __tablename__ = "q_prop_row"
    name: str | None = sx.Field(default=None, max_length=12)
    code: str | None = sx.Field(default=None, max_length=12)
    n: int | None = None


class QItem(sx.Model):
    __tablename__ = "q_prop_item"
    row: QRow = sx.ForeignKey(related_name="items", on_delete="CASCADE")
    label: str | None = sx.Field(default=None, max_length=12)
    qty: int | None = None


ALPHABET = ["a", "A", "b", "B", "é", "É", "ß", "Ω", "ω", "%", "_", "\\", "'", '"', "*", "?", "[", " ", "1"]
ROWS = 300

TEXT_FIELDS = ["name", "code", "items__label"]
INT_FIELDS = ["n", "items__qty"]
TEXT_LOOKUPS = ["exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith",
                "iendswith", "in", "gt", "gte", "lt", "lte", "isnull", "range"]
INT_LOOKUPS = ["exact", "in", "gt", "gte", "lt", "lte", "isnull", "range"]


# --------------------------------------------------------------------------- data


def _text(rng: random.Random) -> str | None:
    if rng.random() < 0.2:
        return None
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 4)))


def _number(rng: random.Random) -> int | None:
    return None if rng.random() < 0.2 else rng.randint(-3, 3)


def make_data(seed: int = 20251125) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    rows = [{"id": i, "name": _text(rng), "code": _text(rng), "n": _number(rng)} for i in range(1, ROWS + 1)]
    items = []
    for row in rows:
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            items.append({"id": len(items) + 1, "row_id": row["id"], "label": _text(rng), "qty": _number(rng)})
    return rows, items


# --------------------------------------------------------------------------- Django's rules in Python


def _lookup(key: str) -> tuple[str, str]:
    parts = key.split("__")
    if parts[-1] in TEXT_LOOKUPS:
        return "__".join(parts[:-1]), parts[-1]
    return key, "exact"


def _read(path: str, row: dict[str, Any], item: dict[str, Any] | None) -> Any:
    if path.startswith("items__"):
        return None if item is None else item[path.removeprefix("items__")]
    return row[path]


def _compare(lookup: str, lhs: Any, rhs: Any, rhs_is_f: bool) -> bool:
    if lookup == "isnull":
        return (lhs is None) == rhs
    if lookup in ("exact", "iexact") and rhs is None and not rhs_is_f:
        return lhs is None
    if lookup == "in":
        return lhs is not None and lhs in [v for v in rhs if v is not None]
    if lhs is None or rhs is None:
        return False
    if lookup == "range":
        return bool(rhs[0] <= lhs <= rhs[1])
    if lookup.startswith("i") and lookup not in ("in", "isnull"):
        lhs, rhs, lookup = lhs.lower(), rhs.lower(), lookup[1:]
    return bool({
        "exact": lambda: lhs == rhs,
        "contains": lambda: rhs in lhs,
        "startswith": lambda: lhs.startswith(rhs),
        "endswith": lambda: lhs.endswith(rhs),
        "gt": lambda: lhs > rhs,
        "gte": lambda: lhs >= rhs,
        "lt": lambda: lhs < rhs,
        "lte": lambda: lhs <= rhs,
    }[lookup]())


def _many(tree: tuple[Any, ...]) -> bool:
    key, value = tree[1], tree[2]
    return key.startswith("items__") or (isinstance(value, F) and value.name.startswith("items__"))


def _leaf(tree: tuple[Any, ...], row: dict[str, Any], item: dict[str, Any] | None) -> bool:
    key, value = tree[1], tree[2]
    path, lookup = _lookup(key)
    if isinstance(value, F):
        return _compare(lookup, _read(path, row, item), _read(value.name, row, item), True)
    return _compare(lookup, _read(path, row, item), value, False)


def _eval(tree: tuple[Any, ...], row: dict[str, Any], item: Any, items: list[Any], negated: bool) -> bool:
    kind = tree[0]
    if kind == "leaf":
        if negated and _many(tree):
            return any(_leaf(tree, row, other) for other in (items or [None]))
        return _leaf(tree, row, item)
    if kind == "not":
        return not _eval(tree[1], row, item, items, True)
    results = (_eval(child, row, item, items, negated) for child in tree[1])
    return all(results) if kind == "and" else any(results)


def _positive_many(tree: tuple[Any, ...]) -> bool:
    if tree[0] == "leaf":
        return _many(tree)
    if tree[0] == "not":
        return False
    return any(_positive_many(child) for child in tree[1])


def django_holds(call: tuple[str, tuple[Any, ...]], row: dict[str, Any], items: list[Any]) -> bool:
    kind, tree = call
    if kind == "exclude":
        tree = ("not", tree)
    if _positive_many(tree):
        return any(_eval(tree, row, item, items, False) for item in (items or [None]))
    return _eval(tree, row, None, items, False)


def to_q(tree: tuple[Any, ...]) -> Q:
    if tree[0] == "leaf":
        return Q(**{tree[1]: tree[2]})
    if tree[0] == "not":
        return ~to_q(tree[1])
    parts = [to_q(child) for child in tree[1]]
    return reduce((lambda a, b: a & b) if tree[0] == "and" else (lambda a, b: a | b), parts)


# --------------------------------------------------------------------------- strategies

text = st.text(alphabet=st.sampled_from(ALPHABET), max_size=3)
number = st.integers(-3, 3)


def _values(lookup: str, scalar: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    if lookup in ("exact", "iexact"):
        return st.one_of(st.none(), scalar)
    if lookup == "in":
        return st.lists(st.one_of(st.none(), scalar), max_size=3)
    if lookup == "isnull":
        return st.booleans()
    if lookup == "range":
        return st.tuples(scalar, scalar)
    return scalar


def _plain_leaf(fields: list[str], lookups: list[str], scalar: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def build(field: str, lookup: str) -> st.SearchStrategy[Any]:
        key = field if lookup == "exact" else f"{field}__{lookup}"
        return _values(lookup, scalar).map(lambda value: ("leaf", key, value))

    return st.tuples(st.sampled_from(fields), st.sampled_from(lookups)).flatmap(lambda fl: build(*fl))


F_LEAVES = [
    ("leaf", "name", F("code")),
    ("leaf", "name__lt", F("code")),
    ("leaf", "code__icontains", F("name")),
    ("leaf", "items__label__startswith", F("name")),
    ("leaf", "items__qty__gt", F("n")),
    ("leaf", "n__lte", F("n")),
]

leaves = st.one_of(
    _plain_leaf(TEXT_FIELDS, TEXT_LOOKUPS, text),
    _plain_leaf(INT_FIELDS, INT_LOOKUPS, number),
    st.sampled_from(F_LEAVES),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.tuples(st.just("and"), st.lists(children, min_size=1, max_size=3)),
        st.tuples(st.just("or"), st.lists(children, min_size=1, max_size=3)),
        st.tuples(st.just("not"), children),
    ),
    max_leaves=6,
)
calls = st.lists(st.tuples(st.sampled_from(["filter", "exclude"]), trees), min_size=1, max_size=2)


# --------------------------------------------------------------------------- the test


class _LoopThread:
    """An event loop in a thread, so synchronous Hypothesis code can await queries."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def _insert(db: sx.Database, rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.insert(QRow.__table__), rows)
        await conn.execute(sa.insert(QItem.__table__), items)


async def test_random_trees_match_djangos_rules(sx_database: sx.Database) -> None:
    rows, items = make_data()
    await _insert(sx_database, rows, items)
    by_row: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    for item in items:
        by_row[item["row_id"]].append(item)

    worker = _LoopThread()

    async def open_db() -> sx.Database:
        return sx.Database(sx_database.engine.url, name=f"q_prop_{id(worker)}", default=False)

    db = worker.run(open_db())
    try:

        @settings(max_examples=50, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
        @given(calls)
        def check(drawn: list[tuple[str, tuple[Any, ...]]]) -> None:
            qs = QRow.objects.using(db)
            for kind, tree in drawn:
                qs = getattr(qs, kind)(to_q(tree))
            got = worker.run(qs.values_list("id", flat=True)._fetch())
            expected = {r["id"] for r in rows if all(django_holds(c, r, by_row[r["id"]]) for c in drawn)}
            assert len(got) == len(set(got)), "a row came back twice"
            missing, extra = sorted(expected - set(got)), sorted(set(got) - expected)
            assert not missing and not extra, (
                f"missing {missing[:10]}, extra {extra[:10]}\n{qs.sql(db.dialect)}"
            )

        check()
    finally:
        worker.run(db.close())
        worker.close()
