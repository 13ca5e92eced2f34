"""The ``sqlmodelx`` command line: ``--version``, ``demo`` and ``init``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from . import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqlmodelx", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sqlmodelx {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the quickstart demo on an embedded SQLite database")
    demo.add_argument("--url", default="sqlite:///:memory:", help="database URL (default: in-memory SQLite)")

    init = commands.add_parser("init", help="create an Alembic migrations directory for your models")
    init.add_argument("directory", nargs="?", default="migrations")
    init.add_argument("--url", default=None, help="sqlalchemy.url written into alembic.ini")
    init.add_argument("--models", default=None, help="comma-separated modules that define your models")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        asyncio.run(run_demo(args.url))
        return 0
    if args.command == "init":
        from .migrate import init_project

        return init_project(args.directory, url=args.url, models=args.models)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
