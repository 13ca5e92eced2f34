"""Eager loading's fast paths answer exactly as the general path.

- ``select_related``: the loader runs on one row per related key and the other rows reuse
  its object (``prefetch.reuse_joined``); with it off, every row goes through the loader.
  Both runs start from the same session state and must give the same objects (one row, one
  object), the same values, snapshots and loaded relations, in the same number of queries.
- ``prefetch_related`` of a reverse relation hands each parent its group of children as
  built (no copy): every parent still gets its own list, each child its parent, whatever
  the chunking, ``Prefetch(queryset=, to_attr=)`` or nesting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import sqlmodelx as sx
from sqlmodelx import _shape, prefetch
from sqlmodelx.prefetch import prefetch_related_objects
from sqlmodelx.testing import assert_num_queries, capture_queries


class PerfEPublisher(sx.Model):
    __tablename__ = "perf_e_publisher"
    name: str = sx.Field(max_length=40)


class PerfEAuthor(sx.Model):
    __tablename__ = "perf_e_author"
    name: str = sx.Field(max_length=40)
    publisher: PerfEPublisher | None = sx.ForeignKey(on_delete="SET NULL", related_name="perf_e_authors")


class PerfEBook(sx.Model):
    __tablename__ = "perf_e_book"
    title: str = sx.Field(max_length=40)
    pages: int = 100
    author: PerfEAuthor = sx.ForeignKey(on_delete="CASCADE", related_name="perf_e_books")
    editor: PerfEAuthor | None = sx.ForeignKey(on_delete="SET NULL", related_name="perf_e_edited")


class PerfEProfile(sx.Model):
    __tablename__ = "perf_e_profile"
    author: PerfEAuthor = sx.OneToOne(on_delete="CASCADE", related_name="perf_e_profile")
    bio: str = ""


#: Ids the database gave: authors (index 0..4), publishers (0..1).
AUTHORS: list[int] = []
PUBLISHERS: list[int] = []


@pytest.fixture
async def db(sx_database: sx.Database) -> sx.Database:
    async with sx_database.session() as s:
        pubs = [PerfEPublisher(name="North"), PerfEPublisher(name="South")]
        s.add_all(pubs)
        await s.flush()
        authors = [
            PerfEAuthor(name=f"a{i}", publisher=None if i in (2, 4) else pubs[i % 2]) for i in range(5)
        ]
        s.add_all(authors)
        await s.flush()
        # a0: 4 books, a1: 3, a2: 2, a3: 1, a4: none; editors repeat, some books have none
        s.add_all(
            PerfEBook(
                title=f"b{j}",
                pages=10 * j,
                author=authors[a],
                editor=None if j % 3 == 0 else authors[(a + 1) % 5],
            )
            for j, a in enumerate([0, 1, 0, 2, 1, 0, 3, 2, 1, 0])
        )
        s.add_all([PerfEProfile(author=authors[0], bio="zero"), PerfEProfile(author=authors[3], bio="three")])
    AUTHORS[:] = [a.id for a in authors]
    PUBLISHERS[:] = [p.id for p in pubs]
    return sx_database


def describe(roots: list[Any], extra: tuple[Any, ...] = ()) -> list[Any]:
    """Everything reachable from ``roots`` (then ``extra``), objects numbered by first sight.

    Two runs describe alike when they hold the same values, snapshots, sessions and loaded
    relations, and when the same rows are the same objects.
    """
    index: dict[int, int] = {}
    out: list[Any] = []
    pending = [*roots, *extra]

    def ref(obj: Any) -> Any:
        if obj is None:
            return None
        if id(obj) not in index:
            index[id(obj)] = len(index)
            pending.append(obj)
        return index[id(obj)]

    done: set[int] = set()
    while pending:
        obj = pending.pop(0)
        if obj is None or id(obj) in done:
            continue
        done.add(id(obj))
        number = ref(obj)
        d = obj.__dict__
        plan = type(obj).__sx_plan__
        fields = {n: d.get(n, "-") for n in plan.fields}
        relations = {n: ref(d[n]) for n in (*plan.relations, *plan.related) if n in d and not isinstance(d[n], list)}
        lists = {n: [ref(o) for o in v] for n, v in d.items() if isinstance(v, list)}
        cache = {n: [ref(o) for o in v] for n, v in d.get("_sx_prefetched", {}).items()}
        out.append(
            (
                number,
                type(obj).__name__,
                fields,
                d.get("_sx_cols"),
                tuple(d["_sx_vals"]) if "_sx_vals" in d else None,
                "_sx_session" in d,
                relations,
                lists,
                cache,
            )
        )
    return sorted(out, key=lambda item: item[0])


A = PerfEAuthor.objects
B = PerfEBook.objects

#: select_related queries: to-one chains, nullable keys (LEFT OUTER JOIN, None), only()/defer().
JOINED: list[tuple[str, Callable[[], Any]]] = [
    ("author", lambda: B.select_related("author").order_by("id")),
    ("nested-and-second", lambda: B.select_related("author__publisher", "editor").order_by("id")),
    ("nullable-chain", lambda: B.select_related("editor__publisher").order_by("-id")),
    ("only", lambda: B.only("title").select_related("author").order_by("id")),
    ("defer", lambda: B.defer("pages").select_related("author__publisher", "editor__publisher").order_by("id")),
    ("filtered", lambda: B.filter(pages__gte=30).select_related("author").order_by("pages")),
    ("default", lambda: B.select_related().order_by("id")),
    ("reverse-one-to-one", lambda: A.select_related("perf_e_profile").order_by("id")),
    ("to-publisher", lambda: A.select_related("publisher").order_by("id")),
]


async def _before(state: str) -> tuple[Any, ...]:
    """Objects put in the session before the query (kept alive by the caller)."""
    if state == "empty":
        return ()
    if state == "partial":  # only() objects: the rows fill in what they lack
        return tuple(await A.only("id").order_by("id")) + tuple(await PerfEPublisher.objects.only("id"))
    # stale: values in memory that differ from the rows (kept: the identity-map rule)
    known = await A.order_by("id")
    for author in known:
        author.__dict__["name"] = f"memory-{author.__dict__['name']}"
    return tuple(known)


@pytest.mark.parametrize("state", ["empty", "partial", "stale"])
@pytest.mark.parametrize(("case", "query"), JOINED, ids=[c for c, _ in JOINED])
async def test_select_related_reuse_matches_the_loader_on_every_row(
    db: sx.Database, monkeypatch: pytest.MonkeyPatch, case: str, query: Callable[[], Any], state: str
) -> None:
    described = []
    for reuse in (False, True):
        async with db.session():
            before = await _before(state)
            with monkeypatch.context() as patch, assert_num_queries(1):
                patch.setattr(prefetch, "reuse_joined", reuse)
                got = await query()
            described.append(describe(got, before))
    assert described[0] == described[1]


@pytest.mark.parametrize(
    ("case", "query"),
    [
        *JOINED,
        ("prefetch", lambda: A.filter(id__lte=AUTHORS[3]).order_by("id").prefetch_related("perf_e_books")),
        ("both", lambda: B.filter(pages__gt=0).select_related("author").prefetch_related("author__perf_e_edited")),
    ],
    ids=[*(c for c, _ in JOINED), "prefetch", "both"],
)
async def test_eager_queries_answer_alike_with_and_without_templates(
    db: sx.Database, monkeypatch: pytest.MonkeyPatch, case: str, query: Callable[[], Any]
) -> None:
    """Whether or not ``_shape.py`` serves eager queries from a template (the second run of a
    shape uses it when it does), they load the same objects in the same number of queries."""
    described = []
    for templates in (False, True):
        async with db.session():
            with monkeypatch.context() as patch:
                patch.setattr(_shape, "enabled", templates)
                with capture_queries() as first:
                    kept = await query()  # held, so the second run meets these objects again
                with capture_queries() as second:
                    got = await query()
            described.append((len(first), len(second), describe(got, tuple(kept))))
    assert described[0] == described[1]


async def test_select_related_reuse_keeps_one_object_per_row(db: sx.Database) -> None:
    async with db.session():
        books = await B.select_related("author__publisher", "editor").order_by("id")
        by_key = {b.author_id: b.author for b in books}
        assert all(b.author is by_key[b.author_id] for b in books)
        assert all(b.editor is None for b in books if b.editor_id is None)
        assert all(b.editor is by_key.get(b.editor_id, b.editor) for b in books if b.editor_id is not None)
        same = await A.get(id=AUTHORS[0])
        assert same is by_key[AUTHORS[0]]
        assert same.publisher is books[0].author.publisher
        assert [a for a in (b.author.publisher for b in books) if a is not None][0].name == "North"


def _children(author: Any, name: str = "perf_e_books") -> list[int]:
    return sorted(b.id for b in getattr(author, name))


async def _expected_books() -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {i: [] for i in AUTHORS}
    for book in await B.order_by("id"):
        groups[book.author_id].append(book.id)
    return groups


#: (case, query, queries sent, queries sent in IN chunks of 2). Nested: the editors are
#: authors the session holds already (no query); one publisher key is left to load.
PREFETCHES: list[tuple[str, Callable[[], Awaitable[Any]], int, int]] = [
    ("books", lambda: A.order_by("id").prefetch_related("perf_e_books"), 2, 4),
    ("nullable-reverse", lambda: A.order_by("id").prefetch_related("perf_e_edited"), 2, 4),
    ("one-to-one", lambda: A.order_by("id").prefetch_related("perf_e_profile"), 2, 4),
    ("nested", lambda: A.order_by("id").prefetch_related("perf_e_books__editor__publisher"), 3, 5),
    ("after-select-related", lambda: A.select_related("publisher").order_by("id").prefetch_related("perf_e_books"), 2, 4),
    (
        "to-attr",
        lambda: A.order_by("id").prefetch_related(
            sx.Prefetch("perf_e_books", queryset=B.filter(pages__gte=20).order_by("-pages"), to_attr="long")
        ),
        2,
        4,
    ),
]


@pytest.mark.parametrize("chunk", [None, 2])
@pytest.mark.parametrize(("case", "query", "queries", "chunked"), PREFETCHES, ids=[c[0] for c in PREFETCHES])
async def test_prefetch_reverse_gives_each_parent_its_own_children(
    db: sx.Database,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    query: Callable[[], Any],
    queries: int,
    chunked: int,
    chunk: int | None,
) -> None:
    expected = await _expected_books()
    if chunk is not None:  # 5 authors in chunks of 2: 3 IN queries
        monkeypatch.setattr(prefetch, "in_chunk_size", lambda dialect: chunk)
    async with db.session():
        with assert_num_queries(queries if chunk is None else chunked):
            authors = await query()
        assert [a.id for a in authors] == AUTHORS
        books = await B.order_by("id")
        by_id = {b.id: b for b in books}
        if case in ("books", "nested", "after-select-related"):
            assert {a.id: _children(a) for a in authors} == expected
            lists = [a.__dict__["_sx_prefetched"]["perf_e_books"] for a in authors]
            assert len({id(items) for items in lists}) == len(authors)   # one list per parent
            assert all(b.author is a for a in authors for b in a.perf_e_books)
        if case == "nullable-reverse":
            edited = {a.id: sorted(b.id for b in books if b.editor_id == a.id) for a in authors}
            assert {a.id: _children(a, "perf_e_edited") for a in authors} == edited
            assert all(b.editor is a for a in authors for b in a.perf_e_edited)
        if case == "one-to-one":
            assert [a.perf_e_profile and a.perf_e_profile.bio for a in authors] == ["zero", None, None, "three", None]
        if case == "nested":
            for book in books:
                assert book.editor is (None if book.editor_id is None else authors[AUTHORS.index(book.editor_id)])
            assert authors[1].publisher.name == "South" and authors[2].publisher is None
        if case == "to-attr":
            for author in authors:
                want = sorted((b for b in books if b.author_id == author.id and b.pages >= 20), key=lambda b: -b.pages)
                assert author.long == want
                assert "perf_e_books" not in author.__dict__.get("_sx_prefetched", {})
            assert len({id(a.long) for a in authors}) == len(authors)
        assert all(by_id[b.id] is b for a in authors for b in getattr(a, "long", ()))


async def test_prefetch_reverse_parents_with_one_key_get_equal_lists(db: sx.Database) -> None:
    """Two objects with one key (a stand-in built by hand): equal lists, not one shared list;
    the children point to the first parent, as before."""
    async with db.session() as session:
        first = await A.get(id=AUTHORS[0])
        twin = PerfEAuthor(id=AUTHORS[0], name="twin")
        with assert_num_queries(1):
            await prefetch_related_objects(session, [first, twin], ["perf_e_books"])
        mine = first.__dict__["_sx_prefetched"]["perf_e_books"]
        theirs = twin.__dict__["_sx_prefetched"]["perf_e_books"]
        assert mine == theirs and mine is not theirs and len(mine) == 4
        assert all(b.author is first for b in mine)


async def test_prefetch_reverse_keeps_a_loaded_parent_on_the_child(db: sx.Database) -> None:
    async with db.session():
        books = await B.select_related("author").order_by("id")
        authors = await A.order_by("id").prefetch_related("perf_e_books")
        assert all(b.author is authors[AUTHORS.index(b.author_id)] for b in books)
        assert {id(b) for a in authors for b in a.perf_e_books} == {id(b) for b in books}
