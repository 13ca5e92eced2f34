"""Run every ```python block of one docs page, in order, as one async program.

Usage: python run_page.py PAGE.md DATABASE_URL

Blocks fenced as ```python run; blocks fenced otherwise (```py, ```bash, ```text) are
illustrations and do not. A page's ``sx.Database("sqlite:///...")`` is pointed at
DATABASE_URL, so the same examples run on SQLite, PostgreSQL and MariaDB. Every table the
page created is dropped at the end.
"""

from __future__ import annotations

import ast
import asyncio
import re
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

import sqlmodelx as sx

BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return [textwrap.dedent(b) for b in BLOCK.findall(page.read_text())]


def _metadatas(namespace: dict[str, object]) -> list[sa.MetaData]:
    """sx.Model.metadata and every other MetaData the page made (e.g. a DeclarativeBase's)."""
    found = [sx.Model.metadata]
    for value in namespace.values():
        candidate = value if isinstance(value, sa.MetaData) else getattr(value, "metadata", None)
        if (
            isinstance(value, (sa.MetaData, type))
            and isinstance(candidate, sa.MetaData)
            and all(candidate is not m for m in found)
        ):
            found.append(candidate)
    return found


def main() -> None:
    page, url = Path(sys.argv[1]), sys.argv[2]
    source = "\n".join(blocks(page))
    databases: list[sx.Database] = []
    original = sx.Database.__init__

    def redirected(self: sx.Database, target: object = None, **kwargs: object) -> None:
        if isinstance(target, str) and target.startswith("sqlite"):
            target = url
        original(self, target, **kwargs)  # type: ignore[arg-type]
        databases.append(self)

    sx.Database.__init__ = redirected  # type: ignore[method-assign]
    code = compile(source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    namespace: dict[str, object] = {"__name__": "__docs__"}

    async def run() -> None:
        cleanup = sx.Database(url, name="docs_cleanup", default=False)
        try:
            await cleanup.drop_all()
            result = eval(code, namespace)  # noqa: S307 - our own documentation
            if asyncio.iscoroutine(result):
                await result
        finally:
            for metadata in _metadatas(namespace):
                await cleanup.drop_all(metadata)
            for db in databases:
                await db.engine.dispose()

    asyncio.run(run())
    print(f"ran {len(blocks(page))} blocks of {page.name}")


if __name__ == "__main__":
    main()
