"""``sqlmodelx init`` writes a project and never overwrites one (issue 7)."""

from __future__ import annotations

import configparser
from typing import Any

from sqlmodelx.migrate import template_directory


def test_init_writes_ini_and_environment(make_project: Any) -> None:
    project = make_project("postgresql://app:p%40ss@db.example/app")
    project.init()
    root = project.root
    assert sorted(p.name for p in (root / "migrations").iterdir()) == [
        "README",
        "env.py",
        "script.py.mako",
        "versions",
    ]
    assert "run_env()" in (root / "migrations" / "env.py").read_text()

    ini = configparser.ConfigParser()
    ini.read(root / "alembic.ini")
    keys = list(ini["alembic"])
    assert [k for k in keys if "model" in k][0] == "sqlmodelx_models"
    assert ini.get("alembic", "sqlmodelx_models") == "myapp.models"
    assert ini.get("alembic", "script_location", raw=True) == "%(here)s/migrations"
    # '%' is escaped for configparser, so the password reads back intact
    assert ini.get("alembic", "sqlalchemy.url", vars={"here": str(root)}) == (
        "postgresql://app:p%40ss@db.example/app"
    )


def test_init_refuses_to_overwrite(make_project: Any) -> None:
    project = make_project("sqlite:///app.db")
    project.init()
    env_py = project.root / "migrations" / "env.py"
    env_py.write_text("# edited by the user\n")

    again = project.run("-m", "sqlmodelx.cli", "init", ok=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert env_py.read_text() == "# edited by the user\n"

    elsewhere = project.run("-m", "sqlmodelx.cli", "init", "other", ok=False)
    assert elsewhere.returncode == 1 and "alembic.ini already exists" in elsewhere.stderr
    assert not (project.root / "other").exists()


def test_alembic_init_with_the_template_directory(make_project: Any) -> None:
    project = make_project("sqlite:///app.db")
    project.alembic("init", "-t", str(template_directory()), "migrations")
    ini = (project.root / "alembic.ini").read_text()
    assert "sqlmodelx_models = myapp.models" in ini
    assert "sqlalchemy.url = sqlite:///app.db" in ini
    assert (project.root / "migrations" / "env.py").exists()
