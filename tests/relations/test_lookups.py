"""Filters and annotations across relations: Django's multi-valued semantics, on every backend.

Lookups across to-many relations compile to EXISTS (the QuerySet work, issue 5) over the
relation metadata of relations.py; the expected ids are Django's answers on the same data.
"""

from __future__ import annotations

from typing import Any

import pytest

import sqlmodelx as sx

from .models import RAuthor, RBook, RTag


@pytest.fixture
async def shelf(sx_database: sx.Database) -> None:
    """Ann: Alpha (100 p., editor Bob, red+green), Beta (300 p., no editor, blue).
    Bob: Alpha (300 p., editor Ann, red). Cy: Gamma (50 p., editor Ann). Dee: no books."""
    async with sx_database.session() as s:
        ann, bob, cy, dee = (RAuthor(name=n) for n in ("Ann", "Bob", "Cy", "Dee"))
        s.add_all([ann, bob, cy, dee])
        await s.flush()
        books = [
            RBook(title="Alpha", pages=100, author=ann, editor=bob),
            RBook(title="Beta", pages=300, author=ann, editor=None),
            RBook(title="Alpha", pages=300, author=bob, editor=ann),
            RBook(title="Gamma", pages=50, author=cy, editor=ann),
        ]
        red, green, blue = (RTag(name=n) for n in ("red", "green", "blue"))
        s.add_all([*books, red, green, blue])
        await s.flush()
        await books[0].tags.add(red, green)
        await books[1].tags.add(blue)
        await books[2].tags.add(red)


def _authors(objs: list[Any]) -> list[str]:
    return sorted(o.name for o in objs)


def _books(objs: list[Any]) -> list[str]:
    return sorted(f"{b.title}/{b.author.name}" for b in objs)


Q = sx.Q

AUTHOR_CASES = [
    # (description, query, Django's answer)
    ("one filter(): the same book is Alpha AND 300 pages",
     lambda: RAuthor.objects.filter(books__title="Alpha", books__pages=300), ["Bob"]),
    ("two filter() calls: an Alpha book, and a (maybe other) 300-page book",
     lambda: RAuthor.objects.filter(books__title="Alpha").filter(books__pages=300), ["Ann", "Bob"]),
    ("Q & Q inside one filter(): still the same book",
     lambda: RAuthor.objects.filter(Q(books__title="Alpha") & Q(books__pages=300)), ["Bob"]),
    ("to-many filter never duplicates the author",
     lambda: RAuthor.objects.filter(books__pages__gte=100), ["Ann", "Bob"]),
    ("exclude(): no book is Alpha",
     lambda: RAuthor.objects.exclude(books__title="Alpha"), ["Cy", "Dee"]),
    ("exclude() with two conditions: they need not hold on the same book (Django)",
     lambda: RAuthor.objects.exclude(books__title="Alpha", books__pages=300), ["Cy", "Dee"]),
    ("exclude across a NULL editor: books without editor do not match 'Bob'",
     lambda: RAuthor.objects.exclude(books__editor__name="Bob"), ["Bob", "Cy", "Dee"]),
    ("~Q across to-many equals exclude()",
     lambda: RAuthor.objects.filter(~Q(books__editor__name="Bob")), ["Bob", "Cy", "Dee"]),
    ("isnull=True across to-many: a book without editor, or no book at all",
     lambda: RAuthor.objects.filter(books__editor__isnull=True), ["Ann", "Dee"]),
    ("isnull=True on the relation itself: no book at all",
     lambda: RAuthor.objects.filter(books__isnull=True), ["Dee"]),
    ("isnull=False across to-many: has a book",
     lambda: RAuthor.objects.filter(books__isnull=False), ["Ann", "Bob", "Cy"]),
    ("two hops, through the many-to-many",
     lambda: RAuthor.objects.filter(books__tags__name="blue"), ["Ann"]),
    ("reverse then forward: a book of theirs has the editor Ann",
     lambda: RAuthor.objects.filter(books__editor__name="Ann"), ["Bob", "Cy"]),
    ("reverse FK by its own name",
     lambda: RAuthor.objects.filter(edited__title="Alpha"), ["Ann", "Bob"]),
]

BOOK_CASES = [
    ("many-to-many: two filter() calls, red and green on one book",
     lambda: RBook.objects.filter(tags__name="red").filter(tags__name="green"), ["Alpha/Ann"]),
    ("many-to-many: Q & Q in one filter(): one tag cannot be both",
     lambda: RBook.objects.filter(Q(tags__name="red") & Q(tags__name="green")), []),
    ("many-to-many __in: each book once",
     lambda: RBook.objects.filter(tags__name__in=["red", "green"]), ["Alpha/Ann", "Alpha/Bob"]),
    ("many-to-many exclude",
     lambda: RBook.objects.exclude(tags__name="red"), ["Beta/Ann", "Gamma/Cy"]),
    ("many-to-many isnull=True: no tag",
     lambda: RBook.objects.filter(tags__isnull=True), ["Gamma/Cy"]),
    ("forward FK then reverse FK",
     lambda: RBook.objects.filter(author__books__title="Beta"), ["Alpha/Ann", "Beta/Ann"]),
]


@pytest.mark.parametrize("case", AUTHOR_CASES, ids=[c[0] for c in AUTHOR_CASES])
async def test_author_semantics(shelf: None, case: Any) -> None:
    _, query, expected = case
    assert _authors(await query()) == expected


@pytest.mark.parametrize("case", BOOK_CASES, ids=[c[0] for c in BOOK_CASES])
async def test_book_semantics(shelf: None, case: Any) -> None:
    _, query, expected = case
    assert _books(await query().select_related("author")) == expected


async def test_tags_through_the_mirror_side(shelf: None) -> None:
    assert sorted(t.name for t in await RTag.objects.filter(books__author__name="Bob")) == ["red"]
    assert sorted(t.name for t in await RTag.objects.exclude(books__pages__gt=200)) == ["green"]


async def test_annotations_across_relations_do_not_multiply(shelf: None) -> None:
    rows = await RAuthor.objects.annotate(
        n=sx.Count("books"), pages=sx.Sum("books__pages"), tags=sx.Count("books__tags"), n_edited=sx.Count("edited")
    ).order_by("name")
    got = [(a.name, a.n, a.pages, a.tags, a.n_edited) for a in rows]
    assert [(n, c, None if p is None else int(p), t, e) for n, c, p, t, e in got] == [
        ("Ann", 2, 400, 3, 2), ("Bob", 1, 300, 1, 1), ("Cy", 1, 50, 0, 0), ("Dee", 0, None, 0, 0),
    ]
    busy = await RAuthor.objects.annotate(n=sx.Count("books")).filter(n__gte=2)
    assert _authors(busy) == ["Ann"]
    tags = await RTag.objects.annotate(n=sx.Count("books"), pages=sx.Sum("books__pages")).order_by("name")
    assert [(t.name, t.n, int(t.pages)) for t in tags] == [("blue", 1, 300), ("green", 1, 100), ("red", 2, 400)]
    grouped = await RAuthor.objects.values("name").annotate(n=sx.Count("books")).order_by("name")
    assert [(g["name"], g["n"]) for g in grouped] == [("Ann", 2), ("Bob", 1), ("Cy", 1), ("Dee", 0)]
