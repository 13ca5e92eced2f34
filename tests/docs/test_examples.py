"""Every script in examples/ runs to completion on every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqlmodelx.testing import Backend

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, sx_backend: Backend, tmp_path: Path) -> None:
    assert sx_backend.url is not None
    url = sx_backend.url.render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, str(script), url], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, f"{script.name} on {sx_backend.name}:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), "an example prints what it shows"
