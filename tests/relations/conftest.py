"""Shared data for the relations tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import sqlmodelx as sx

from .models import RAuthor, RBook, RPublisher, RTag


@dataclass
class Library:
    """Ids of a small library: 2 publishers, 3 authors (one without publisher), 5 books, 3 tags."""

    publishers: list[int]
    authors: list[int]
    books: list[int]
    tags: list[int]


@pytest.fixture
async def library(sx_database: sx.Database) -> Library:
    async with sx_database.session() as s:
        pubs = [RPublisher(name="North"), RPublisher(name="South")]
        s.add_all(pubs)
        await s.flush()
        authors = [
            RAuthor(name="Ann", publisher=pubs[0]),
            RAuthor(name="Bob", publisher=pubs[1]),
            RAuthor(name="Cy", publisher=None),
        ]
        s.add_all(authors)
        await s.flush()
        books = [
            RBook(title="A1", pages=10, author=authors[0]),
            RBook(title="A2", pages=20, author=authors[0], editor=authors[1]),
            RBook(title="B1", pages=30, author=authors[1]),
            RBook(title="B2", pages=40, author=authors[1], editor=authors[0]),
            RBook(title="C1", pages=50, author=authors[2]),
        ]
        tags = [RTag(name="red"), RTag(name="green"), RTag(name="blue")]
        s.add_all([*books, *tags])
        await s.flush()
        await books[0].tags.add(tags[0], tags[1])
        await books[1].tags.add(tags[1])
        await books[2].tags.add(tags[0], tags[1], tags[2])
        return Library([p.id for p in pubs], [a.id for a in authors], [b.id for b in books], [t.id for t in tags])
