"""docs/api.md lists every public name, as generated from the docstrings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlmodelx as sx


def _generator():  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name("make_api.py")
    spec = importlib.util.spec_from_file_location("make_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_current() -> None:
    generator = _generator()
    assert generator.API.read_text() == generator.render(), "run: python tests/docs/make_api.py"


def test_every_public_name_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    for name in sx.__all__:
        assert f"sx.{name}" in text, name
