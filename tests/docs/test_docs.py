"""Every example in docs/ runs, on every backend (each page in its own interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqlmodelx.testing import Backend

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUNNER = Path(__file__).with_name("run_page.py")
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_examples_run(page: Path, sx_backend: Backend, tmp_path: Path) -> None:
    assert sx_backend.url is not None
    url = sx_backend.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(page), url],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"{page.name} failed on {sx_backend.name}:\n{done.stdout}\n{done.stderr}"
    assert "ran " in done.stdout
