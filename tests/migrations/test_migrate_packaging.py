"""The template ships in the wheel, and ``sqlmodelx init`` works from a clean install.

Slow (about 20 s: a ``python -m build``, a venv, a pip install); it runs by default and in
CI, and ``-m slow`` / ``-m "not slow"`` select or skip it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = {"__init__.py", "README", "alembic.ini.mako", "env.py", "script.py.mako"}
JUNK = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


def _run(*argv: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_wheel_has_template_and_init_works_from_clean_venv(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=JUNK)
    _run(sys.executable, "-m", "build", "--outdir", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("sqlmodelx-*.whl")  # built from the sdist
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"sqlmodelx/migrations_template/{f}" for f in TEMPLATE_FILES} <= names

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)

    app = tmp_path / "app"
    (app / "shop").mkdir(parents=True)
    (app / "shop" / "__init__.py").write_text("")
    (app / "shop" / "models.py").write_text(
        textwrap.dedent(
            """
            import datetime as dt
            import sqlmodelx as sx

            class Order(sx.Model):
                code: str = sx.Field(max_length=20, unique=True)
                placed_at: dt.datetime = sx.Field(default_factory=sx.utcnow)
            """
        )
    )
    where = _run(python, "-c", "import sqlmodelx; print(sqlmodelx.__file__)", cwd=app)
    assert where.startswith(str(venv))
    _run(
        venv / "bin" / "sqlmodelx",
        "init",
        "--url",
        "sqlite:///shop.db",
        "--models",
        "shop.models",
        cwd=app,
    )
    assert {p.name for p in (app / "migrations").iterdir()} == {
        "README",
        "env.py",
        "script.py.mako",
        "versions",
    }
    alembic = venv / "bin" / "alembic"
    _run(alembic, "revision", "--autogenerate", "-m", "orders", cwd=app)
    _run(alembic, "upgrade", "head", cwd=app)
    assert "No new upgrade operations detected" in _run(alembic, "check", cwd=app)
