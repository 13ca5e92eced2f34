"""``alembic upgrade head --sql`` prints the DDL without touching a database (issue 7)."""

from __future__ import annotations

from typing import Any

import pytest

MODELS = """
    import enum

    import sqlmodelx as sx


    class Status(enum.Enum):
        ACTIVE = "active"
        RETIRED = "retired"


    class Author(sx.Model):
        name: str = sx.Field(max_length=100)
        status: Status = Status.ACTIVE
        profile: dict = sx.Field(default_factory=dict)
"""

# Nothing listens on port 1 and the SQLite directory does not exist: connecting would fail.
UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-sqlmodelx-dir/app.db",
    "postgres": "postgresql://nobody@127.0.0.1:1/nowhere",
    "mysql": "mysql://nobody@127.0.0.1:1/nowhere",
}


@pytest.mark.parametrize("backend", list(UNREACHABLE), ids=list(UNREACHABLE))
def test_upgrade_sql_prints_ddl_offline(make_project: Any, tmp_path: Any, backend: str) -> None:
    project = make_project(UNREACHABLE[backend])
    project.init()
    project.write_models(MODELS)
    project.alembic(
        "-x",
        f"url=sqlite:///{tmp_path / 'autogenerate.db'}",
        "revision",
        "--autogenerate",
        "-m",
        "initial",
    )

    result = project.alembic("upgrade", "head", "--sql")
    sql = result.stdout
    assert "CREATE TABLE author" in sql
    assert "CREATE TABLE alembic_version" in sql
    assert "INSERT INTO alembic_version" in sql
    if backend == "postgres":
        assert sql.count("CREATE TYPE status AS ENUM ('active', 'retired')") == 1
        assert "profile JSONB NOT NULL" in sql
    if backend == "mysql":
        assert "status ENUM('active','retired') NOT NULL" in sql
