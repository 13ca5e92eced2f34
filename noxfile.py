"""Thin nox sessions over one helper (urllib3's shape)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests-3.11", "lint", "typecheck"]


def _install_and_test(session: nox.Session, *pytest_args: str) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *pytest_args, *session.posargs)


@nox.session(python=["3.11", "3.12", "3.13"])
def tests(session: nox.Session) -> None:
    _install_and_test(session)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "sqlmodelx", "tests")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "sqlmodelx")


@nox.session
def docs(session: nox.Session) -> None:
    _install_and_test(session, "tests/docs")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
