"""Unit of work: change tracking, batched INSERTs in foreign-key order, save()/delete()."""

from __future__ import annotations

import pytest

import sqlmodelx as sx

from .conftest import committed_rows, sql_log
from .models import SAuthor, SBook, SCode, SNode

#: Statements for 100 new authors, each with a new book, in one flush (all backends).
FLUSH_STATEMENTS = 2


async def test_a_changed_attribute_updates_that_column_only(sx_database: sx.Database) -> None:
    author = await SAuthor.objects.create(name="a", email="a@x")
    async with sx_database.session() as s:
        author = await SAuthor.objects.get(id=author.id)
        author.rating = 3
        with sql_log(sx_database) as log:
            await s.flush()
        assert len(log) == 1
        sql = " ".join(log[0].split()).lower()
        assert sql.startswith("update s_author set rating=")
        assert "name" not in sql.split("where")[0] and "email" not in sql
        with sql_log(sx_database) as log:
            await s.flush()                      # nothing changed since: no statement
            author.rating = 3                    # set to the same value: still nothing
            await s.flush()
        assert len(log) == 0
    assert await committed_rows(sx_database, SAuthor, "name", "rating") == [("a", 3)]


async def test_100_parents_and_children_flush_in_two_statements(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        authors = [SAuthor(name=f"a{i:03}") for i in range(100)]
        books = [SBook(title=f"b{i:03}", author=authors[i]) for i in range(100)]
        s.add_all(reversed(books))               # children first: the flush orders by FK
        with sql_log(sx_database) as log:
            await s.flush()
        inserts = [" ".join(q.split()).lower() for q in log]
        assert len(log) == FLUSH_STATEMENTS, log
        assert inserts[0].startswith("insert into s_author")
        assert inserts[1].startswith("insert into s_book")
        ids = [a.id for a in authors]
        assert len(set(ids)) == 100 and all(isinstance(i, int) for i in ids)
        assert all(b.author_id == a.id for a, b in zip(authors, books, strict=True))
        assert all(b.id is not None for b in books)
        assert await SAuthor.objects.get(id=authors[7].id) is authors[7]
    rows = await committed_rows(sx_database, SBook, "title", "author_id")
    names = dict(await committed_rows(sx_database, SAuthor, "id", "name"))
    assert all(names[author_id] == "a" + title[1:] for title, author_id in rows)


async def test_client_keys_and_server_defaults_come_back(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        codes = [SCode(code=f"c{i}", label=str(i)) for i in range(5)]
        s.add_all(codes)
        await s.flush()
        assert [c.stamp for c in codes] == [7] * 5
        assert await SCode.objects.get(code="c3") is codes[3]


async def test_rows_of_one_table_referencing_each_other(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        root = SNode(name="root")
        child = SNode(name="child", parent=root)
        leaf = SNode(name="leaf", parent=child)
        s.add_all([leaf, child, root])
        await s.flush()
        assert leaf.parent_id == child.id and child.parent_id == root.id
    cycle_a = SNode(name="a")
    cycle_b = SNode(name="b", parent=cycle_a)
    cycle_a.parent = cycle_b
    with pytest.raises(sx.SessionError, match="cycle"):
        async with sx_database.session() as s:
            s.add_all([cycle_a, cycle_b])
            await s.flush()


async def test_unsaved_parent_is_added_with_its_child(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        book = SBook(title="t", author=SAuthor(name="new"))
        s.add(book)
        await s.flush()
        assert book.author.id is not None and book.author_id == book.author.id
    assert await committed_rows(sx_database, SAuthor, "name") == [("new",)]


async def test_save_and_delete_methods(sx_database: sx.Database) -> None:
    author = SAuthor(name="django")
    await author.save()                          # autocommit: INSERT
    assert author.id is not None
    author.rating = 2
    with sql_log(sx_database) as log:
        await author.save()                      # UPDATE of rating only
    assert len(log) == 1
    assert " ".join(log[0].split()).lower().split(" where")[0].startswith("update s_author set rating=")
    assert "name" not in log[0].lower().split("where")[0]
    async with sx_database.session():
        author.email = "d@x"
        await author.save()
        found = await SAuthor.objects.get(id=author.id)
        assert found is author
        await author.delete()
        assert await SAuthor.objects.filter(id=author.id).exists() is False
    assert author.id is not None                 # the key is kept, as Django does
    assert await committed_rows(sx_database, SAuthor) == []


async def test_delete_batches_and_orders_children_first(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        authors = [SAuthor(name=f"d{i}") for i in range(3)]
        books = [SBook(title=f"t{i}", author=a) for i, a in enumerate(authors)]
        s.add_all(books)
        await s.flush()
        for obj in (*authors, *books):
            s.delete(obj)
        with sql_log(sx_database) as log:
            await s.flush()
        tables = [" ".join(q.split()).lower().split()[2] for q in log if q.lstrip().upper().startswith("DELETE")]
        assert tables == ["s_book", "s_author"]
        assert s.identity_map.get(SAuthor.__sx_plan__, authors[0].id) is None
    assert await committed_rows(sx_database, SAuthor) == []


async def test_refresh_reads_the_row_again(sx_database: sx.Database) -> None:
    author = await SAuthor.objects.create(name="r")
    async with sx_database.session() as s:
        mine = await SAuthor.objects.get(id=author.id)
        mine.name = "unsaved"
        s.expunge(mine)
        await s.refresh(mine)
        assert mine.name == "r"
    author.name = "detached change"
    await author.refresh()
    assert author.name == "r"


@pytest.mark.requires("autoincrement_zero_trap")
async def test_primary_key_zero_is_refused_on_mysql(sx_database: sx.Database) -> None:
    with pytest.raises(sx.ValidationError, match="0 is not a valid AUTO_INCREMENT key"):
        await SAuthor.objects.create(id=0, name="zero")
    assert await committed_rows(sx_database, SAuthor) == []
