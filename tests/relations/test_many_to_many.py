"""Many-to-many: add/remove/set/clear, checked in the association table from a fresh connection."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx.testing import assert_num_queries

from .models import RAuthor, RBook, RCourse, REnrollment, RNote, RNoteRead, RPerson, RStudent, RTag


async def _links(db: sx.Database, table: sa.Table) -> set[tuple[int, int]]:
    """The association rows as another connection sees them (after the session committed)."""
    return {(r[0], r[1]) for r in await db.fetch_all(sa.select(*table.c))}


async def test_auto_association_table_shape() -> None:
    table = RBook.tags.table
    assert table.name == "r_book_tags"
    assert [c.name for c in table.primary_key.columns] == ["r_book_id", "r_tag_id"]
    assert table.primary_key.name == "pk_r_book_tags"
    fks = {fk.parent.name: (fk.column.table.name, fk.ondelete) for fk in table.foreign_keys}
    assert fks == {"r_book_id": ("r_book", "CASCADE"), "r_tag_id": ("r_tag", "CASCADE")}
    assert sorted(str(c.name) for c in table.foreign_key_constraints) == [
        "fk_r_book_tags_r_book_id_r_book", "fk_r_book_tags_r_tag_id_r_tag"
    ]
    assert RPerson.follows.table.c.keys() == ["from_r_person_id", "to_r_person_id"]


async def test_add_remove_set_clear(sx_database: sx.Database) -> None:
    link = RBook.tags.table
    async with sx_database.session() as s:
        author = RAuthor(name="Ann")
        book = RBook(title="T", author=author)
        tags = [RTag(name=n) for n in ("a", "b", "c", "d")]
        s.add_all([author, book, *tags])
        await s.flush()
        b, (a1, a2, a3, a4) = book.id, [t.id for t in tags]
        with assert_num_queries(1):
            await book.tags.add(*tags[:3])                    # one statement for three
        with assert_num_queries(1):
            await book.tags.add(tags[0], tags[1])             # idempotent, still one
    assert await _links(sx_database, link) == {(b, a1), (b, a2), (b, a3)}

    async with sx_database.session():
        book = await RBook.objects.get(id=b)
        with assert_num_queries(1):
            await book.tags.remove(a2)                         # by key works too
    assert await _links(sx_database, link) == {(b, a1), (b, a3)}

    async with sx_database.session():
        book = await RBook.objects.get(id=b)
        await book.tags.set([a3, a4])
    assert await _links(sx_database, link) == {(b, a3), (b, a4)}
    tag = await RTag.objects.get(id=a4)
    assert [x.title for x in await tag.books.all()] == ["T"]   # the mirror side

    async with sx_database.session():
        book = await RBook.objects.get(id=b)
        with assert_num_queries(1):
            await book.tags.clear()
    assert await _links(sx_database, link) == set()


async def test_add_without_a_session_and_manager_queries(sx_database: sx.Database) -> None:
    author = await RAuthor.objects.create(name="Ann")
    book = await RBook.objects.create(title="X", author=author)
    red = await RTag.objects.create(name="red")
    blue = await RTag.objects.create(name="blue")
    await book.tags.add(red, blue)                          # autocommit on the default database
    assert await book.tags.count() == 2
    assert [t.name for t in await book.tags.order_by("name")] == ["blue", "red"]
    assert [t.name for t in await book.tags.filter(name="red")] == ["red"]
    made = await book.tags.create(name="green")
    assert sorted(t.name for t in await book.tags.all()) == ["blue", "green", "red"]
    assert [b.title for b in await made.books.all()] == ["X"]
    await red.books.remove(book)                            # from the other side
    assert sorted(t.name for t in await book.tags.all()) == ["blue", "green"]


async def test_add_rejects_unsaved_and_wrong_objects(sx_database: sx.Database) -> None:
    author = await RAuthor.objects.create(name="Ann")
    book = await RBook.objects.create(title="X", author=author)
    with pytest.raises(ValueError, match="save it first"):
        await book.tags.add(RTag(name="new"))
    with pytest.raises(TypeError, match="takes RTag objects"):
        await book.tags.add(author)
    with pytest.raises(ValueError, match="save it first"):
        await RBook(title="new", author=author).tags.all()
    with pytest.raises(AttributeError, match="cannot be assigned"):
        book.tags = []


async def test_through_model_with_an_extra_column(sx_database: sx.Database) -> None:
    async with sx_database.session() as s:
        ann, bob = RStudent(name="Ann"), RStudent(name="Bob")
        math, art = RCourse(title="Math"), RCourse(title="Art")
        s.add_all([ann, bob, math, art])
        await s.flush()
        await ann.courses.add(math, art, through_defaults={"grade": 5})
        await ann.courses.add(math, through_defaults={"grade": 1})   # exists: kept as is
        await math.students.add(bob)                                  # column default: 0
    rows = await sx_database.fetch_all(
        sa.select(REnrollment.student_id, REnrollment.course_id, REnrollment.grade).order_by(REnrollment.id)
    )
    assert sorted(tuple(r) for r in rows) == sorted(
        [(ann.id, math.id, 5), (ann.id, art.id, 5), (bob.id, math.id, 0)]
    )
    students = await RStudent.objects.prefetch_related("courses", "enrollments").order_by("name")
    assert [sorted(c.title for c in s.courses.all()) for s in students] == [["Art", "Math"], ["Math"]]
    assert [sorted(e.grade for e in s.enrollments.all()) for s in students] == [[5, 5], [0]]
    await ann.courses.remove(art)
    assert await REnrollment.objects.filter(student_id=ann.id).count() == 1
    with pytest.raises(sx.FieldError, match="has no column 'grad'"):
        await ann.courses.add(art, through_defaults={"grad": 1})


async def test_through_model_without_unique_pair_stays_idempotent(sx_database: sx.Database) -> None:
    note = await RNote.objects.create(text="n")
    ann = await RPerson.objects.create(name="Ann")
    await note.readers.add(ann)
    await note.readers.add(ann, through_defaults={"times": 2})
    rows = await sx_database.fetch_all(sa.select(RNoteRead.__table__.c.person_id, RNoteRead.__table__.c.times))
    assert [tuple(r) for r in rows] == [(ann.id, 1)]


async def test_self_referencing_many_to_many(sx_database: sx.Database) -> None:
    ann = await RPerson.objects.create(name="Ann")
    bob = await RPerson.objects.create(name="Bob")
    cy = await RPerson.objects.create(name="Cy")
    await ann.follows.add(bob, cy)
    await cy.follows.add(bob)
    assert sorted(p.name for p in await bob.followers.all()) == ["Ann", "Cy"]
    people = await RPerson.objects.prefetch_related("follows", "followers").order_by("name")
    assert {p.name: (sorted(f.name for f in p.follows.all()), sorted(f.name for f in p.followers.all())) for p in people} == {
        "Ann": (["Bob", "Cy"], []), "Bob": ([], ["Ann", "Cy"]), "Cy": (["Bob"], ["Ann"]),
    }


async def test_many_to_many_rows_go_with_either_side(sx_database: sx.Database) -> None:
    author = await RAuthor.objects.create(name="Ann")
    book = await RBook.objects.create(title="X", author=author)
    tag = await RTag.objects.create(name="t")
    await book.tags.add(tag)
    await tag.delete()                                       # ON DELETE CASCADE on the link
    assert await _links(sx_database, RBook.tags.table) == set()
