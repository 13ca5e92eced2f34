"""``sqlmodelx init`` -> ``alembic revision --autogenerate`` -> ``alembic upgrade`` (issue 7).

The contract (DESIGN.md section 5): the migrated schema is the schema ``create_all`` makes,
``alembic check`` is clean after every upgrade, a second model version autogenerates
exactly its changes, and ``downgrade -1`` restores the first schema.
"""

from __future__ import annotations

from typing import Any

MODELS_V1 = """
    import datetime as dt
    import enum
    import uuid
    from decimal import Decimal

    import sqlalchemy as sa
    import sqlmodelx as sx


    class Status(enum.Enum):
        ACTIVE = "active"
        RETIRED = "retired"


    class Author(sx.Model):
        name: str = sx.Field(max_length=100, index=True)
        email: str | None = sx.Field(default=None, unique=True, max_length=200)
        rating: Decimal = sx.Field(
            max_digits=5, decimal_places=2, default=Decimal("0"), server_default="0"
        )
        profile: dict = sx.Field(default_factory=dict)
        status: Status = Status.ACTIVE
        created_at: dt.datetime = sx.Field(default_factory=sx.utcnow)
        born: dt.date | None = None
        wakes_at: dt.time | None = None
        pause: dt.timedelta | None = None
        token: uuid.UUID | None = None
        active: bool = True
        score: float = 0.0
        photo: bytes | None = None
        bio: str | None = None


    class Book(sx.Model):
        __tablename__ = "books"
        title: str = sx.Field(max_length=200)
        author: Author = sx.ForeignKey(on_delete="CASCADE", related_name="books")
        __table_args__ = (sa.UniqueConstraint("title", "author_id"),)
"""

# A new nullable column, a new table with a FK (reusing the enum type), a new index, a new
# many-to-many relation (its association table is made by sqlmodelx), a wider max_length.
MODELS_V2 = (
    MODELS_V1.replace("max_length=100, index=True", "max_length=150, index=True").replace(
        "title: str = sx.Field(max_length=200)\n",
        "title: str = sx.Field(max_length=200, index=True)\n"
        "        subtitle: str | None = None\n"
        '        tags: list["Tag"] = sx.ManyToMany(related_name="books")\n',
    )
    + """

    class Tag(sx.Model):
        name: str = sx.Field(max_length=50, unique=True)


    class Review(sx.Model):
        book: Book = sx.ForeignKey(on_delete="CASCADE", related_name="reviews")
        stars: int = 5
        status: Status = Status.ACTIVE
"""
)

INSERT_ANN = (
    "INSERT INTO author (name, email, rating, profile, status, created_at, active, score) "
    "VALUES ('Ann', 'ann@example.com', 1.5, '{}', 'active', '2024-01-02 03:04:05', "
    "true, 2.5)"
)


def _migrated(project: Any, models: str, message: str) -> Any:
    project.write_models(models)
    revision = project.revision(message)
    project.alembic("upgrade", "head")
    return revision


def _assert_check_clean(project: Any) -> None:
    result = project.alembic("check")
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_init_autogenerate_upgrade_equals_create_all(project: Any, new_database: Any) -> None:
    project.init()
    _migrated(project, MODELS_V1, "initial")
    migrated = project.schema()

    reference = new_database()
    project.create_all(reference)
    assert migrated == project.schema(reference)
    assert set(migrated) >= {"author", "books"}
    _assert_check_clean(project)


def test_second_version_autogenerates_exactly_its_changes(project: Any, new_database: Any) -> None:
    project.init()
    _migrated(project, MODELS_V1, "initial")
    first_schema = project.schema()
    project.query(INSERT_ANN)
    project.query(
        "INSERT INTO books (title, author_id) SELECT 'Dune', id FROM author WHERE name = 'Ann'"
    )

    project.write_models(MODELS_V2)
    revision = project.revision("second")
    reference = new_database()
    project.create_all(reference)
    new_tables = set(project.schema(reference)) - set(first_schema)
    assert {"review", "tag"} < new_tables and len(new_tables) == 3  # and the association table

    ops = project.upgrade_ops(revision)
    expected = {
        ("add_column", "books", "subtitle"),
        ("create_index", "books", ("title",)),
        ("alter_column", "author", "name"),
        ("create_enum_type", "status"),  # for review.status; a no-op unless PostgreSQL
        *(("create_table", table) for table in new_tables),
    }
    extra = {op for op in ops - expected if not (op[0] == "create_index" and op[1] in new_tables)}
    assert expected <= ops and not extra, (ops, extra)
    assert project.data_loss(revision) is None

    project.alembic("upgrade", "head")
    assert project.query(
        "SELECT a.name, b.title FROM author a JOIN books b ON b.author_id = a.id"
    ) == [("Ann", "Dune")]
    assert project.schema() == project.schema(reference)
    _assert_check_clean(project)

    project.alembic("downgrade", "-1")
    assert project.schema() == first_schema
    assert project.query("SELECT name FROM author") == [("Ann",)]
