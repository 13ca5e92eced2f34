"""The data-loss guard: a marked revision never runs by accident (issue 7).

``alembic upgrade`` through a revision that drops a column stops before changing anything,
naming the revision and the operation; ``-x allow_data_loss=true`` or
``allow_data_loss = True`` in the reviewed file lets it run.
"""

from __future__ import annotations

from typing import Any

MODELS = """
    import enum

    import sqlmodelx as sx


    class Level(enum.Enum):
        JUNIOR = "junior"
        SENIOR = "senior"


    class Author(sx.Model):
        name: str = sx.Field(max_length=100)
        email: str | None = sx.Field(default=None, max_length=200)
        level: Level | None = None
"""

# Dropping `level` also exercises PostgreSQL's enum type: dropped with its last column,
# re-created by the downgrade's add_column.
WITHOUT_EMAIL = MODELS.replace(
    "        email: str | None = sx.Field(default=None, max_length=200)\n", ""
).replace("        level: Level | None = None\n", "")


def test_drop_column_is_refused_without_opt_in(project: Any, new_database: Any) -> None:
    project.init()
    project.write_models(MODELS)
    first = project.revision("initial")
    project.alembic("upgrade", "head")
    project.query(
        "INSERT INTO author (name, email, level) VALUES ('Ann', 'ann@example.com', 'senior')"
    )

    project.write_models(WITHOUT_EMAIL)
    second = project.revision("drop email")
    text = second.read_text()
    assert sorted(project.data_loss(second)) == [
        "drop column author.email",
        "drop column author.level",
    ]
    assert "allow_data_loss = False" in text

    refused = project.alembic("upgrade", "head", ok=False)
    assert refused.returncode != 0
    revision_id = second.name.split("_")[0]
    assert revision_id in refused.stderr and "drop column author.email" in refused.stderr
    assert "allow_data_loss" in refused.stderr
    assert project.query("SELECT name, email, level FROM author") == [
        ("Ann", "ann@example.com", "senior")
    ]
    assert first.name.split("_")[0] in project.alembic("current").stdout

    fresh = new_database()  # from base, the marked revision is refused before any write
    assert project.alembic("-x", f"url={fresh}", "upgrade", "head", ok=False).returncode != 0
    assert project.tables(fresh) == []

    project.alembic("-x", "allow_data_loss=true", "upgrade", "head")
    assert [c[0] for c in project.schema()["author"]["columns"]] == ["id", "name"]
    assert project.query("SELECT name FROM author") == [("Ann",)]

    assert project.schema().get("<enums>") in (None, [])  # PostgreSQL's type went too

    project.alembic("downgrade", "-1")  # downgrades are not guarded
    assert project.schema().get("<enums>") in (None, [("level", ("junior", "senior"))])
    project.edit(second, r"^allow_data_loss = False$", "allow_data_loss = True")
    project.alembic("upgrade", "head")
    assert revision_id in project.alembic("current").stdout


def test_narrowing_a_type_is_marked(project: Any) -> None:
    project.init()
    project.write_models(MODELS)
    project.revision("initial")
    project.alembic("upgrade", "head")

    project.write_models(MODELS.replace("max_length=100", "max_length=50"))
    narrowed = project.revision("shorter names").read_text()
    assert "#   - narrow column author.name: VARCHAR(100) -> VARCHAR(50)" in narrowed
    assert project.alembic("upgrade", "head", ok=False).returncode != 0
