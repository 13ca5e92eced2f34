"""Reading and assigning relations: loaded objects, NotLoadedError, ids, managers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx.testing import assert_num_queries, capture_queries

from .conftest import Library
from .models import RAuthor, RBook, RCategory, RCity, RCountry, RProfile, RPublisher


async def test_unloaded_access_raises_without_sql(sx_database: sx.Database, library: Library) -> None:
    book = await RBook.objects.get(title="A2")
    author = await RAuthor.objects.get(name="Ann")
    with capture_queries() as sent:
        with pytest.raises(sx.NotLoadedError) as info:
            _ = book.author
        assert book.author_id == author.id                    # the id needs no query
        with pytest.raises(sx.NotLoadedError, match="reverse of RProfile.author"):
            _ = author.profile
        books = author.books                                   # a manager: no query yet
    assert len(sent) == 0
    message = str(info.value)
    for way in ("select_related('author')", "prefetch_related('author')", "await obj.load('author')"):
        assert way in message
    assert isinstance(info.value, AttributeError)              # hasattr()/getattr(default) work
    assert "not loaded" in repr(books)
    with pytest.raises(TypeError, match="is not loaded, so iterating it would need a query"):
        list(books)


async def test_null_foreign_key_reads_as_none(sx_database: sx.Database, library: Library) -> None:
    book = await RBook.objects.get(title="A1")
    assert book.editor_id is None and book.editor is None      # nothing to load


async def test_assign_object_or_id(sx_database: sx.Database, library: Library) -> None:
    async with sx_database.session():
        book = await RBook.objects.select_related("author").get(title="A1")
        bob = await RAuthor.objects.get(name="Bob")
        book.author = bob                                      # an object: the id follows
        assert book.author_id == bob.id and book.author is bob
        book.author_id = library.authors[2]                    # an id: the stale object goes
        with pytest.raises(sx.NotLoadedError):
            _ = book.author
        with pytest.raises(TypeError, match="takes a RAuthor"):
            book.author = bob.id  # type: ignore[assignment]
        with pytest.raises(ValueError, match="may not be None"):
            book.author = None  # type: ignore[assignment]
    again = await RBook.objects.select_related("author").get(title="A1")
    assert again.author.name == "Cy"


async def test_new_objects_link_before_they_have_ids(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        pub = RPublisher(name="P")
        author = RAuthor(name="New", publisher=pub)
        s.add_all([RBook(title="N", author=author), author, pub])   # inserted parents first
    book = await RBook.objects.select_related("author__publisher").get(title="N")
    assert (book.author.name, book.author.publisher.name) == ("New", "P")


async def test_reverse_one_to_one(sx_database: sx.Database, library: Library) -> None:
    ann, bob = await RAuthor.objects.get(name="Ann"), await RAuthor.objects.get(name="Bob")
    profile = RProfile(author=bob, bio="hi")
    ann.profile = profile                                      # sets profile.author
    assert profile.author is ann and profile.author_id == ann.id and ann.profile is profile
    await profile.save()
    [loaded] = await RAuthor.objects.filter(name="Ann").prefetch_related("profile")
    assert loaded.profile.bio == "hi"
    [bob] = await RAuthor.objects.filter(name="Bob").prefetch_related("profile")
    assert bob.profile is None
    with pytest.raises(sx.IntegrityError):
        await RProfile.objects.create(author=ann, bio="second")   # one-to-one is unique


async def test_reverse_manager_create_add_remove(sx_database: sx.Database, library: Library) -> None:
    ann, bob = await RAuthor.objects.get(name="Ann"), await RAuthor.objects.get(name="Bob")
    made = await ann.books.create(title="A3", pages=5)
    assert made.author is ann and made.author_id == ann.id
    assert await ann.books.count() == 3
    assert [b.title for b in await ann.books.filter(pages__lt=15).order_by("title")] == ["A1", "A3"]
    assert (await ann.books.order_by("-pages").first()).title == "A2"
    b1 = await RBook.objects.get(title="B1")
    with assert_num_queries(1):
        await ann.books.add(b1)                                 # moves the book: one UPDATE
    assert b1.author_id == ann.id and await bob.books.count() == 1
    with pytest.raises(TypeError, match="does not allow"):
        await ann.books.remove(b1)                              # author_id is NOT NULL
    edited = await bob.edited.all()
    assert [b.title for b in edited] == ["A2"]
    await bob.edited.remove(*edited)
    assert await bob.edited.count() == 0
    await bob.edited.set([b1, made])
    assert sorted(b.title for b in await bob.edited.all()) == ["A3", "B1"]
    await bob.edited.clear()
    assert not await bob.edited.exists()


async def test_self_reference_and_nested_loads(sx_database: sx.Database) -> None:
    root = await RCategory.objects.create(name="root")
    child = await RCategory.objects.create(name="child", parent=root)
    await RCategory.objects.create(name="leaf", parent=child)
    leaf = await RCategory.objects.select_related("parent__parent").get(name="leaf")
    assert (leaf.parent.name, leaf.parent.parent.name) == ("child", "root")
    assert leaf.parent.parent.parent is None
    [top] = await RCategory.objects.filter(parent_id=None).prefetch_related("children__children")
    assert [c.name for c in top.children.all()] == ["child"]
    assert [c.name for c in top.children.all()[0].children.all()] == ["leaf"]


async def test_to_field_points_at_a_unique_field(sx_database: sx.Database) -> None:
    fr = await RCountry.objects.create(code="FR", name="France")
    await RCountry.objects.create(code="IT", name="Italy")
    paris = await RCity.objects.create(name="Paris", country=fr)
    assert paris.country_id == "FR"
    await RCity.objects.create(name="Lyon", country_id="FR")
    [city] = await RCity.objects.filter(name="Lyon").select_related("country")
    assert city.country.name == "France"
    [city] = await RCity.objects.filter(name="Lyon").prefetch_related("country")
    assert city.country.name == "France"
    countries = await RCountry.objects.prefetch_related("cities").order_by("code")
    assert [sorted(c.name for c in k.cities.all()) for k in countries] == [["Lyon", "Paris"], []]
    assert sorted(c.name for c in await fr.cities.all()) == ["Lyon", "Paris"]
    assert [k.code for k in await RCountry.objects.filter(cities__name="Paris")] == ["FR"]


async def test_refresh_forgets_a_relation_whose_key_changed(sx_database: sx.Database, library: Library) -> None:
    async with sx_database.session():
        book = await RBook.objects.select_related("author").get(title="A1")
        await sx_database.execute(sa.update(RBook.__table__).values(author_id=library.authors[1]))
        await book.refresh()
        assert book.author_id == library.authors[1]
        with pytest.raises(sx.NotLoadedError):
            _ = book.author
