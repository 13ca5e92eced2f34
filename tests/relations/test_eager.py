"""select_related and prefetch_related: the statements they send, and what they load."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx.testing import assert_num_queries, capture_queries, detect_n_plus_one

from .conftest import Library
from .models import RAuthor, RBook, RProfile, RPublisher, RTag


async def test_select_related_two_hops_is_one_select_and_reads_send_nothing(
    sx_database: sx.Database, library: Library
) -> None:
    async with sx_database.session():
        with capture_queries() as sent:
            books = await RBook.objects.select_related("author__publisher").order_by("id")
        assert len(sent) == 1 and sent.statements[0].lstrip().upper().startswith("SELECT")
        assert sent.statements[0].upper().count("JOIN") == 2
        assert "LEFT OUTER JOIN" in sent.statements[0].upper()     # publisher is nullable
        with capture_queries() as read:
            seen = [(b.title, b.author.name, b.author.publisher and b.author.publisher.name) for b in books]
        assert len(read) == 0
    assert seen == [
        ("A1", "Ann", "North"), ("A2", "Ann", "North"), ("B1", "Bob", "South"),
        ("B2", "Bob", "South"), ("C1", "Cy", None),
    ]


async def test_select_related_goes_through_the_identity_map(sx_database: sx.Database, library: Library) -> None:
    async with sx_database.session():
        ann = await RAuthor.objects.get(name="Ann")
        books = await RBook.objects.filter(author_id=ann.id).select_related("author", "editor")
        assert [b.author for b in books] == [ann, ann]
        assert all(b.author is ann for b in books)                 # one row, one object
        assert books[0].editor is None and books[1].editor.name == "Bob"


async def test_select_related_rejects_to_many_and_unknown_names(sx_database: sx.Database) -> None:
    with pytest.raises(sx.FieldError, match="prefetch_related"):
        RAuthor.objects.select_related("books")
    with pytest.raises(sx.FieldError, match="Choices: publisher"):
        RAuthor.objects.select_related("publsher")


async def test_select_related_without_names_follows_non_null_keys(sx_database: sx.Database, library: Library) -> None:
    books = await RBook.objects.select_related().order_by("id")
    assert books[0].author.name == "Ann"
    with pytest.raises(sx.NotLoadedError):
        _ = books[1].editor                                            # nullable: not followed
    with pytest.raises(sx.NotLoadedError):
        _ = books[0].author.publisher


async def test_select_related_reverse_one_to_one(sx_database: sx.Database, library: Library) -> None:
    ann = await RAuthor.objects.get(name="Ann")
    await RProfile.objects.create(author=ann, bio="writes")
    authors = await RAuthor.objects.select_related("profile").order_by("id")
    assert [a.profile and a.profile.bio for a in authors] == ["writes", None, None]


async def test_prefetch_reverse_forward_and_many_to_many_are_one_query_each(
    sx_database: sx.Database, library: Library
) -> None:
    with assert_num_queries(2):
        authors = await RAuthor.objects.prefetch_related("books").order_by("id")
    with assert_num_queries(2):
        books = await RBook.objects.prefetch_related("author").order_by("id")
    with assert_num_queries(2):
        tagged = await RBook.objects.prefetch_related("tags").order_by("id")
    with assert_num_queries(0):
        by_author = {a.name: sorted(b.title for b in a.books) for a in authors}   # loaded: iterable
        assert [b.author.name for b in books] == ["Ann", "Ann", "Bob", "Bob", "Cy"]
        by_book = {b.title: sorted(t.name for t in b.tags.all()) for b in tagged}
        assert await authors[0].books.count() == 2
        assert books[0].author is books[1].author                  # one author object
    assert by_author == {"Ann": ["A1", "A2"], "Bob": ["B1", "B2"], "Cy": ["C1"]}
    assert by_book == {"A1": ["green", "red"], "A2": ["green"], "B1": ["blue", "green", "red"], "B2": [], "C1": []}


async def test_prefetch_nested_levels_and_prefetch_objects(sx_database: sx.Database, library: Library) -> None:
    with assert_num_queries(4):                                 # 1 + authors + books + staff
        pubs = await RPublisher.objects.prefetch_related(
            "authors__books",
            sx.Prefetch("authors", queryset=RAuthor.objects.order_by("-name"), to_attr="staff"),
        ).order_by("id")
    assert [[a.name for a in p.staff] for p in pubs] == [["Ann"], ["Bob"]]
    assert [sorted(b.title for a in p.authors.all() for b in a.books.all()) for p in pubs] == [
        ["A1", "A2"], ["B1", "B2"]
    ]
    with assert_num_queries(3):
        tags = await RTag.objects.prefetch_related(
            sx.Prefetch("books", queryset=RBook.objects.filter(pages__gt=10).order_by("title").select_related("author")),
            "books__tags",
        ).order_by("name")
    assert {t.name: [(b.title, b.author.name) for b in t.books.all()] for t in tags} == {
        "blue": [("B1", "Bob")], "green": [("A2", "Ann"), ("B1", "Bob")], "red": [("B1", "Bob")]
    }
    assert sorted(t.name for t in tags[1].books.all()[1].tags.all()) == ["blue", "green", "red"]


async def test_prefetched_manager_answers_without_sql_and_filters_with_sql(
    sx_database: sx.Database, library: Library
) -> None:
    [ann] = await RAuthor.objects.filter(name="Ann").prefetch_related("books")
    with assert_num_queries(0):
        loaded = ann.books.all()
        assert len(loaded) == 2 and await loaded.count() == 2 and await ann.books.exists()
        assert [b.title for b in await ann.books.all()] == [b.title for b in loaded]
    with assert_num_queries(1):
        assert [b.title for b in await ann.books.filter(pages__gt=10)] == ["A2"]


async def test_prefetch_with_many_parents_stays_one_plus_one(sx_database: sx.Database) -> None:
    """5,000 parents: the IN lists stay under every backend's parameter limit."""
    n = 5000
    authors, books, tags = RAuthor.__table__, RBook.__table__, RTag.__table__
    link = RBook.tags.table
    await sx_database.execute(sa.insert(authors), [{"id": i, "name": f"a{i}"} for i in range(1, n + 1)])
    await sx_database.execute(
        sa.insert(books), [{"id": i, "title": f"b{i}", "pages": i, "author_id": i} for i in range(1, n + 1)]
    )
    await sx_database.execute(sa.insert(tags), [{"id": i, "name": f"t{i}"} for i in range(1, 4)])
    await sx_database.execute(
        sa.insert(link), [{"r_book_id": i, "r_tag_id": i % 3 + 1} for i in range(1, n + 1)]
    )
    with detect_n_plus_one(), assert_num_queries(2):
        loaded_authors = await RAuthor.objects.prefetch_related("books")
    with detect_n_plus_one(), assert_num_queries(2):
        loaded_books = await RBook.objects.prefetch_related("author")
    with detect_n_plus_one(), assert_num_queries(2):
        tagged = await RBook.objects.prefetch_related("tags")
    assert len(loaded_authors) == n and all(len(a.books.all()) == 1 for a in loaded_authors)
    assert all(b.author.id == b.author_id for b in loaded_books)
    assert sum(len(b.tags.all()) for b in tagged) == n


async def test_prefetch_forward_serves_known_targets_from_the_identity_map(
    sx_database: sx.Database, library: Library
) -> None:
    async with sx_database.session():
        authors = await RAuthor.objects.all()
        with assert_num_queries(1):
            books = await RBook.objects.prefetch_related("author")
        assert {id(b.author) for b in books} <= {id(a) for a in authors}


async def test_load_on_demand(sx_database: sx.Database, library: Library) -> None:
    async with sx_database.session():
        book = await RBook.objects.get(title="A2")
        with assert_num_queries(3):
            await book.load("author", "tags", "editor")
        assert (book.author.name, book.editor.name) == ("Ann", "Bob")
        assert [t.name for t in book.tags.all()] == ["green"]
        with assert_num_queries(1):
            await book.load("author__books")              # author is in the identity map
        assert sorted(b.title for b in book.author.books.all()) == ["A1", "A2"]
    with pytest.raises(sx.FieldError, match="has no relation 'autor'"):
        await book.load("autor")


async def test_iterator_joins_select_related(sx_database: sx.Database, library: Library) -> None:
    with capture_queries() as sent:
        seen = [(b.title, b.author.name) async for b in RBook.objects.select_related("author").iterator(chunk_size=2)]
    assert sorted(seen)[0] == ("A1", "Ann") and len(seen) == 5 and len(sent.selects) == 1


def test_iterator_refuses_prefetch_where_the_stream_holds_the_connection() -> None:
    from sqlalchemy.dialects import mysql, postgresql

    from sqlmodelx.prefetch import check_streaming

    qs = RBook.objects.prefetch_related("tags")
    check_streaming(postgresql.dialect(), qs)
    with pytest.raises(sx.NotSupportedError, match="mysql: iterator.. cannot prefetch_related"):
        check_streaming(mysql.dialect(), qs)


@pytest.mark.requires("queries_while_streaming")
async def test_iterator_prefetches_chunk_by_chunk(sx_database: sx.Database, library: Library) -> None:
    async with sx_database.session():
        with capture_queries() as sent:
            seen = [
                (b.title, b.author.name, sorted(t.name for t in b.tags.all()))
                async for b in RBook.objects.select_related("author").prefetch_related("tags").order_by("id").iterator(chunk_size=2)
            ]
    assert seen[0] == ("A1", "Ann", ["green", "red"]) and seen[4] == ("C1", "Cy", [])
    assert len(sent.selects) == 1 + 3                          # the stream, one prefetch per chunk


async def test_prefetch_chunks_keys_under_the_parameter_limit(
    sx_database: sx.Database, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sqlmodelx.prefetch.in_chunk_size", lambda dialect: 2)
    with detect_n_plus_one(), capture_queries() as sent:
        authors = await RAuthor.objects.prefetch_related("books", "books__tags").order_by("id")
    assert len(sent) == 1 + 2 + 3                              # 3 authors, 5 books, by 2
    assert [sorted(b.title for b in a.books.all()) for a in authors] == [["A1", "A2"], ["B1", "B2"], ["C1"]]
    tags = {b.title: sorted(t.name for t in b.tags.all()) for a in authors for b in a.books.all()}
    assert tags == {"A1": ["green", "red"], "A2": ["green"], "B1": ["blue", "green", "red"], "B2": [], "C1": []}


async def test_select_related_with_only_and_annotations(sx_database: sx.Database, library: Library) -> None:
    with assert_num_queries(1):
        books = await (
            RBook.objects.only("title", "author_id").select_related("author__publisher")
            .annotate(n_tags=sx.Count("tags")).order_by("title")
        )
    assert [(b.title, b.n_tags, b.author.name, b.author.publisher and b.author.publisher.name) for b in books] == [
        ("A1", 2, "Ann", "North"), ("A2", 1, "Ann", "North"), ("B1", 3, "Bob", "South"),
        ("B2", 0, "Bob", "South"), ("C1", 0, "Cy", None),
    ]
    with pytest.raises(sx.NotLoadedError):
        _ = books[0].pages                                     # deferred by only()


async def test_prefetch_to_attr_on_forward_and_many_to_many(sx_database: sx.Database, library: Library) -> None:
    with assert_num_queries(3):
        books = await RBook.objects.prefetch_related(
            sx.Prefetch("author", queryset=RAuthor.objects.filter(name="Ann"), to_attr="ann_only"),
            sx.Prefetch("tags", queryset=RTag.objects.exclude(name="red").order_by("name"), to_attr="not_red"),
        ).order_by("title")
    assert [(b.title, b.ann_only and b.ann_only.name, [t.name for t in b.not_red]) for b in books] == [
        ("A1", "Ann", ["green"]), ("A2", "Ann", ["green"]), ("B1", None, ["blue", "green"]),
        ("B2", None, []), ("C1", None, []),
    ]
    with pytest.raises(sx.NotLoadedError):
        _ = books[0].author                                    # to_attr leaves the relation alone
    assert not books[0].tags.is_loaded
