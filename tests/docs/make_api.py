"""Write docs/api.md from the public names of sqlmodelx and their docstrings.

Run ``python tests/docs/make_api.py`` after changing the public API; a test fails while
docs/api.md is out of date.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import sqlmodelx as sx

API = Path(__file__).resolve().parents[2] / "docs" / "api.md"

HEADER = """# API reference

Generated from the docstrings by `python tests/docs/make_api.py`; do not edit by hand.
Everything here is importable from `sqlmodelx` (`import sqlmodelx as sx`). Submodules with
their own pages: `sqlmodelx.testing` ([testing.md](testing.md)), `sqlmodelx.migrate`
([migrations.md](migrations.md)), `sqlmodelx.types` ([models.md](models.md)).
"""


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip()


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _members(cls: type) -> list[tuple[str, object]]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in ("__init__",):
            continue
        if name == "__init__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if not _summary(member):
            continue  # undocumented members are internal (e.g. the runner protocol)
        if isinstance(member, property) or inspect.isfunction(member):
            out.append((name, member))
    return out


def render() -> str:
    parts = [HEADER]
    names = sorted(sx.__all__, key=str.lower)
    exceptions = [n for n in names if isinstance(getattr(sx, n), type) and issubclass(getattr(sx, n), BaseException)]
    classes = [n for n in names if isinstance(getattr(sx, n), type) and n not in exceptions]
    functions = [n for n in names if callable(getattr(sx, n)) and n not in classes and n not in exceptions]
    others = [n for n in names if n not in classes + exceptions + functions]

    parts.append("\n## Classes\n")
    for name in classes:
        cls = getattr(sx, name)
        parts.append(f"\n### `sx.{name}`\n")
        init = cls.__dict__.get("__init__")
        if init is not None:
            parts.append(f"\n```text\n{name}{_signature(init).replace('(self, ', '(').replace('(self)', '()')}\n```\n")
        summary = _summary(cls)
        if summary:
            parts.append(f"\n{summary}\n")
        for member_name, member in _members(cls):
            if isinstance(member, property):
                parts.append(f"\n- `{member_name}` (property): {(_summary(member).splitlines() or [''])[0]}")
            else:
                sig = _signature(member).replace("(self, ", "(").replace("(self)", "()")
                parts.append(f"\n- `{member_name}{sig}`: {(_summary(member).splitlines() or [''])[0]}")
        parts.append("\n")

    parts.append("\n## Functions\n")
    for name in functions:
        fn = getattr(sx, name)
        parts.append(f"\n### `sx.{name}{_signature(fn)}`\n\n{_summary(fn)}\n")

    parts.append("\n## Exceptions\n")
    parts.append(f"\n```text\n{inspect.getdoc(sys.modules['sqlmodelx.exc']) or ''}\n```\n")
    for name in exceptions:
        exc = getattr(sx, name)
        bases = ", ".join(b.__name__ for b in exc.__bases__)
        parts.append(f"\n- `sx.{name}({bases})`: {(_summary(exc).splitlines() or [''])[0]}")
    parts.append("\n")

    if others:
        parts.append("\n## Other names\n")
        for name in others:
            parts.append(f"\n- `sx.{name}`: `{getattr(sx, name)!r}`"[:300])
        parts.append("\n")
    return "".join(parts)


if __name__ == "__main__":
    API.write_text(render())
    print(f"wrote {API}")
