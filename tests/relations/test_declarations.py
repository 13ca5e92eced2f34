"""Declaring relations: tables, names, forward references, and the errors for mistakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import sqlmodelx as sx
from sqlmodelx import registry
from sqlmodelx.relations import ManyToManyRelation, ReverseRelation, relation_of

from .models import RAuthor, RBook, RCourse, REnrollment, RProfile, RStudent, RTag


@pytest.fixture
def scratch() -> Iterator[type[sx.Model]]:
    """An abstract base on its own MetaData; the models made from it are forgotten after."""
    before = {name: list(models) for name, models in registry._by_name.items()}
    pending = list(registry._pending)

    class Base(sx.Model, abstract=True, metadata=sa.MetaData()):
        pass

    yield Base
    registry._by_name.clear()
    registry._by_name.update(before)
    registry._pending[:] = pending


def test_plan_describes_every_relation() -> None:
    plan = RAuthor.__sx_plan__
    assert plan.relations["publisher"].kind == "forward" and not plan.relations["publisher"].many
    books = plan.related["books"]
    assert isinstance(books, ReverseRelation) and books.many
    assert (books.model, books.target, books.source_field, books.target_field) == (RAuthor, RBook, "id", "author_id")
    profile = plan.related["profile"]
    assert profile.kind == "reverse" and not profile.many                # one-to-one
    tags = relation_of(RBook.__sx_plan__, "tags")
    assert isinstance(tags, ManyToManyRelation) and tags.reverse is RTag.__sx_plan__.related["books"]
    assert RAuthor.books is books and RBook.tags is tags                   # class access
    courses = RStudent.__sx_plan__.related["courses"]
    assert courses.through is REnrollment and courses.table is REnrollment.__table__
    assert (courses.link_source.key, courses.link_target.key) == ("student_id", "course_id")
    assert RCourse.__sx_plan__.related["students"].target is RStudent
    assert RProfile.__table__.c.author_id.unique


def test_correlate_builds_the_subquery_parts() -> None:
    rel = RBook.__sx_plan__.related["tags"]
    from_, where, target = rel.correlate()
    stmt = sa.select(sa.func.count()).select_from(from_).where(where, target.c.name == "red")
    sql = str(stmt.compile())
    assert "r_book_tags" in sql and "r_tag" in sql and "r_book.id" in sql


async def test_unknown_target_fails_at_configure_naming_both(scratch: type[sx.Model]) -> None:
    class Orphan(scratch):  # type: ignore[valid-type,misc]
        parent: "Nowhere" = sx.ForeignKey()  # type: ignore[name-defined]  # noqa: F821, UP037

    with pytest.raises(sx.ConfigurationError, match=r"Orphan\.parent refers to model 'Nowhere'"):
        sx.configure()
    with pytest.raises(sx.ConfigurationError, match=r"Orphan\.parent refers to model 'Nowhere'"):
        await Orphan.objects.all()                               # first use, before any SQL
    db = sx.Database("sqlite://", default=False)
    try:
        with pytest.raises(sx.ConfigurationError, match=r"Orphan\.parent refers to model 'Nowhere'"):
            await db.create_all(scratch.metadata)                # not a DDL error about NullType
    finally:
        await db.close()
    with pytest.raises(sx.ConfigurationError, match="Orphan.parent refers to model 'Nowhere'"):
        Orphan.objects.select_related("parent")


def test_unknown_many_to_many_target_fails_on_first_use(scratch: type[sx.Model]) -> None:
    class Lonely(scratch):  # type: ignore[valid-type,misc]
        friends: list["Ghost"] = sx.ManyToMany()  # type: ignore[name-defined]  # noqa: F821, UP037

    with pytest.raises(sx.ConfigurationError, match=r"Lonely\.friends refers to model 'Ghost'"):
        sx.configure()
    with pytest.raises(sx.ConfigurationError, match=r"Lonely\.friends refers to model 'Ghost'"):
        Lonely(id=1).friends.all()


def test_reverse_name_clash_is_an_error(scratch: type[sx.Model]) -> None:
    class Owner(scratch):  # type: ignore[valid-type,misc]
        name: str = ""

    with pytest.raises(sx.ConfigurationError, match=r"Owner\.name already exists.*Pet\.owner"):

        class Pet(scratch):  # type: ignore[valid-type,misc]
            owner: Owner = sx.ForeignKey(related_name="name")

    with pytest.raises(sx.ConfigurationError, match=r"Owner\.save already exists"):

        class Car(scratch):  # type: ignore[valid-type,misc]
            owner: Owner = sx.ForeignKey(related_name="save")


def test_default_reverse_names_and_opt_out(scratch: type[sx.Model]) -> None:
    class Shop(scratch):  # type: ignore[valid-type,misc]
        pass

    class Sale(scratch):  # type: ignore[valid-type,misc]
        shop: Shop = sx.ForeignKey()
        audit_shop: Shop | None = sx.ForeignKey(related_name="+")

    class Manager(scratch):  # type: ignore[valid-type,misc]
        shop: Shop = sx.OneToOne()
        shops: list[Shop] = sx.ManyToMany(related_name="managers")

    assert set(Shop.__sx_plan__.related) == {"sale_set", "manager", "managers"}
    assert Manager.shops.table.name == "manager_shops"


def test_through_model_needs_its_two_keys(scratch: type[sx.Model]) -> None:
    class Left(scratch):  # type: ignore[valid-type,misc]
        links: list["Right"] = sx.ManyToMany(through="Link")  # noqa: UP037

    class Right(scratch):  # type: ignore[valid-type,misc]
        pass

    with pytest.raises(sx.ConfigurationError, match="needs exactly one foreign key to Left"):

        class Link(scratch):  # type: ignore[valid-type,misc]
            right: Right = sx.ForeignKey()


def test_self_referencing_through_model_with_through_fields(scratch: type[sx.Model]) -> None:
    class User(scratch):  # type: ignore[valid-type,misc]
        blocked: list["User"] = sx.ManyToMany(  # noqa: UP037
            through="Block", through_fields=("blocker", "blockee"), related_name="blocked_by"
        )

    class Block(scratch):  # type: ignore[valid-type,misc]
        blockee: User = sx.ForeignKey(related_name="+")
        blocker: User = sx.ForeignKey(related_name="+")

    rel = User.__sx_plan__.related["blocked"]
    assert (rel.link_source.key, rel.link_target.key) == ("blocker_id", "blockee_id")
    assert User.__sx_plan__.related["blocked_by"].link_source.key == "blockee_id"
