"""Fixtures for the migration tests: a throwaway project driven by the real CLIs.

Every test runs ``sqlmodelx init`` and ``alembic ...`` in subprocesses, as a user would, in
a temporary directory whose ``myapp/models.py`` the test writes. Databases are fresh per
test: a file on SQLite, a scratch database (created here, dropped afterwards) on the
PostgreSQL / MariaDB server that ``sx_backend`` (the sqlmodelx pytest plugin) names.
``sx_backend`` parametrises over ``sqlite``, ``postgres`` and ``mysql``, skips a server
whose URL variable is unset, and stops the run when a set URL does not answer.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from sqlmodelx.database import async_url

Snapshot = dict[str, Any]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds a wheel and a clean venv (select with -m slow; runs by default)"
    )


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on a private loop (never touching pytest-asyncio's loop)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


async def _admin(url: sa.URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture
def new_database(sx_backend: Any, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of empty databases on the test's backend; returns each one's URL."""
    made: list[str] = []

    def make() -> str:
        name = f"sxmig_{secrets.token_hex(5)}"
        if sx_backend.name == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        quote = '"' if sx_backend.name == "postgres" else "`"
        run_async(_admin(sx_backend.admin_url, f"CREATE DATABASE {quote}{name}{quote}"))
        made.append(f"{quote}{name}{quote}")
        url: str = sx_backend.admin_url.set(database=name).render_as_string(hide_password=False)
        return url

    yield make
    force = " WITH (FORCE)" if sx_backend.name == "postgres" else ""
    for name in made:
        run_async(_admin(sx_backend.admin_url, f"DROP DATABASE IF EXISTS {name}{force}"))


# --------------------------------------------------------------------------- inspection


def on_connection(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    """``work(connection)`` in a committed transaction on a fresh engine for ``url``."""

    async def run() -> Any:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return run_async(run())


def _snapshot(connection: sa.Connection) -> Snapshot:
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    tables: Snapshot = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        pk = inspector.get_pk_constraint(table)
        tables[table] = {
            "columns": sorted(  # ADD COLUMN appends; create_all keeps declaration order
                (
                    c["name"],
                    str(c["type"].compile(dialect=dialect)),
                    c["nullable"],
                    c.get("default"),
                    bool(c.get("autoincrement") is True),
                )
                for c in inspector.get_columns(table)
            ),
            "pk": (pk.get("name"), tuple(pk["constrained_columns"])),
            "fks": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (uq["name"], tuple(uq["column_names"]))
                for uq in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (ck["name"], ck["sqltext"]) for ck in inspector.get_check_constraints(table)
            ),
        }
    if dialect.name == "postgresql":
        tables["<enums>"] = sorted(
            (e["name"], tuple(e["labels"]))
            for e in inspector.get_enums()  # type: ignore[attr-defined]
        )
    return tables


def _rows(sql: str) -> Callable[[sa.Connection], list[tuple[Any, ...]]]:
    def fetch(connection: sa.Connection) -> list[tuple[Any, ...]]:
        result = connection.exec_driver_sql(sql)
        return [tuple(row) for row in result] if result.returns_rows else []

    return fetch


# --------------------------------------------------------------------------- revision files


def upgrade_ops(revision: Path) -> set[tuple[Any, ...]]:
    """The operations in a revision file's ``upgrade()``, as ``(name, table, detail)``.

    ``op.x(...)`` and ``batch_op.x(...)`` (inside ``with op.batch_alter_table(t)``) read
    alike, so the same expectation holds on SQLite's batch mode and elsewhere.
    """
    tree = ast.parse(revision.read_text())
    (upgrade,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"]
    found: set[tuple[Any, ...]] = set()

    def visit(statements: list[ast.stmt], table: str | None) -> None:
        for statement in statements:
            if isinstance(statement, ast.With):
                call = statement.items[0].context_expr
                assert isinstance(call, ast.Call)
                visit(statement.body, _literal(call.args[0]))
            elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                found.add(_describe(statement.value, table))

    visit(upgrade.body, None)
    return found


def _describe(call: ast.Call, table: str | None) -> tuple[Any, ...]:
    assert isinstance(call.func, ast.Attribute)
    name = call.func.attr
    args = list(call.args)
    if table is None and name in {"add_column", "alter_column", "drop_column", "create_table"}:
        table = _literal(args.pop(0))
    if name == "create_table":
        return (name, table)
    if name in {"add_column"}:
        column = args[0]
        assert isinstance(column, ast.Call)
        return (name, table, _literal(column.args[0]))
    if name in {"alter_column", "drop_column"}:
        return (name, table, _literal(args[0]))
    if name == "create_index":
        if table is None:
            table = _literal(args.pop(1))
        return (name, table, tuple(_literal(args[1])))
    return (name, *[_literal(a) for a in args[:1]])


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def edit(revision: Path, pattern: str, replacement: str) -> None:
    """Replace the one line of ``revision`` that matches ``pattern``."""
    text = revision.read_text()
    new, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == 1, f"{pattern!r} not found once in {revision.name}"
    revision.write_text(new)


# --------------------------------------------------------------------------- the project


class Project:
    """A temporary application with ``myapp/models.py``, driven through the CLIs."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        (root / "myapp").mkdir()
        (root / "myapp" / "__init__.py").write_text("")

    def write_models(self, source: str) -> None:
        (self.root / "myapp" / "models.py").write_text(textwrap.dedent(source))

    def run(self, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "SQLMODELX_DATABASE_URL"}
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # models.py is rewritten within one second
        result = subprocess.run(
            [sys.executable, *argv],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def alembic(self, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "alembic", *argv, ok=ok)

    def init(self) -> None:
        self.run("-m", "sqlmodelx.cli", "init", "--url", self.url, "--models", "myapp.models")

    def revision(self, message: str) -> Path:
        before = set(self.versions())
        self.alembic("revision", "--autogenerate", "-m", message)
        (new,) = set(self.versions()) - before
        return new

    def versions(self) -> list[Path]:
        return sorted((self.root / "migrations" / "versions").glob("*.py"))

    def create_all(self, url: str) -> None:
        """``db.create_all()`` for the project's current models, in a fresh process."""
        script = (
            "import asyncio, sys, sqlmodelx as sx, myapp.models\n"
            "async def main():\n"
            "    db = sx.Database(sys.argv[1])\n"
            "    await db.create_all()\n"
            "    await db.dispose()\n"
            "asyncio.run(main())\n"
        )
        self.run("-c", script, url)

    def schema(self, url: str | None = None) -> Snapshot:
        """The inspected schema (``alembic_version`` left out)."""
        result: Snapshot = on_connection(url or self.url, _snapshot)
        return result

    def tables(self, url: str | None = None) -> list[str]:
        """Every table name, ``alembic_version`` included."""
        names: list[str] = on_connection(url or self.url, lambda c: sa.inspect(c).get_table_names())
        return names

    def query(self, sql: str, url: str | None = None) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = on_connection(url or self.url, _rows(sql))
        return rows

    @staticmethod
    def data_loss(revision: Path) -> list[str] | None:
        """The revision's ``data_loss`` list, or None when it has none."""
        for node in ast.parse(revision.read_text()).body:
            if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "data_loss":
                assert node.value is not None
                value: list[str] = ast.literal_eval(node.value)
                return value
        return None

    upgrade_ops = staticmethod(upgrade_ops)
    edit = staticmethod(edit)


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[str], Project]:
    """A factory of empty projects (without migrations yet) for a database URL."""

    def make(url: str) -> Project:
        root = tmp_path / f"project{len(list(tmp_path.glob('project*')))}"
        root.mkdir()
        return Project(root, url)

    return make


@pytest.fixture
def project(make_project: Callable[[str], Project], new_database: Callable[[], str]) -> Project:
    """A project whose alembic.ini points at a fresh database on the test's backend."""
    return make_project(new_database())
