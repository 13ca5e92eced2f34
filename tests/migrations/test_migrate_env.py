"""``run_env`` configuration: shared metadata with plain SQLAlchemy, hooks, URL precedence.

These exercise configuration plumbing, not backend behaviour, so they run on SQLite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MIXED_MODELS = """
    import sqlalchemy as sa
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    import sqlmodelx as sx


    class Legacy(DeclarativeBase):
        pass


    class Invoice(Legacy):
        __tablename__ = "invoice"
        id: Mapped[int] = mapped_column(primary_key=True)
        total: Mapped[int]


    class Base(sx.Model, abstract=True, metadata=Legacy.metadata):
        pass


    class Customer(Base):
        name: str = sx.Field(max_length=80)
"""

HOOKS = """
def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name.startswith("audit_"))
"""


def _tables(project: Any, revision: Path) -> set[Any]:
    return {op[1] for op in project.upgrade_ops(revision) if op[0] == "create_table"}


def test_sqlmodelx_and_declarative_models_on_one_metadata(
    make_project: Any, tmp_path: Path
) -> None:
    project = make_project(f"sqlite:///{tmp_path / 'app.db'}")
    project.init()
    project.write_models(MIXED_MODELS)
    revision = project.revision("initial")
    assert _tables(project, revision) == {"invoice", "customer"}
    project.alembic("upgrade", "head")
    project.alembic("check")


def test_include_object_from_alembic_ini_and_from_env_py(make_project: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    project = make_project(url)
    project.init()
    project.write_models(MIXED_MODELS)
    (project.root / "myapp" / "hooks.py").write_text(HOOKS)
    project.query("CREATE TABLE audit_log (id INTEGER PRIMARY KEY)")

    unhooked = project.revision("would drop audit_log")
    assert ("drop_table", "audit_log") in project.upgrade_ops(unhooked)
    assert project.data_loss(unhooked) == ["drop table audit_log"]
    unhooked.unlink()

    ini = project.root / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "# sqlmodelx_include_object = myapp.migrations:include_object",
            "sqlmodelx_include_object = myapp.hooks:include_object",
        )
    )
    from_ini = project.revision("from ini")
    assert not any("audit_log" in op for op in project.upgrade_ops(from_ini))
    from_ini.unlink()

    ini.write_text(ini.read_text().replace("sqlmodelx_include_object", "# unused"))
    env_py = project.root / "migrations" / "env.py"
    env_py.write_text(
        "from myapp.hooks import include_object\n"
        "from sqlmodelx.migrate import run_env\n\n"
        "run_env(include_object=include_object)\n"
    )
    from_env_py = project.revision("from env.py")
    assert not any("audit_log" in op for op in project.upgrade_ops(from_env_py))
    assert _tables(project, from_env_py) == {"invoice", "customer"}


def test_url_precedence(make_project: Any, tmp_path: Path, monkeypatch: Any) -> None:
    project = make_project(f"sqlite:///{tmp_path / 'ini.db'}")
    project.init()
    project.write_models(MIXED_MODELS)
    project.alembic(
        "-x", f"url=sqlite:///{tmp_path / 'x.db'}", "revision", "--autogenerate", "-m", "initial"
    )

    project.alembic("upgrade", "head")
    assert (tmp_path / "ini.db").exists()

    monkeypatch.setenv("PROJECT_ENV_URL", f"sqlite:///{tmp_path / 'env.db'}")
    project.run("-c", _WITH_ENV_URL, "upgrade", "head")
    assert (tmp_path / "env.db").exists()

    project.run(
        "-c", _WITH_ENV_URL, "-x", f"url=sqlite:///{tmp_path / 'xarg.db'}", "upgrade", "head"
    )
    assert (tmp_path / "xarg.db").exists()


# Project.run drops SQLMODELX_DATABASE_URL from the environment; this sets it for alembic.
_WITH_ENV_URL = (
    "import os, sys\n"
    "os.environ['SQLMODELX_DATABASE_URL'] = os.environ['PROJECT_ENV_URL']\n"
    "from alembic.config import main\n"
    "main(argv=sys.argv[1:], prog='alembic')\n"
)
