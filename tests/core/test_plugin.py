"""The pytest plugin: backend list in the header, and a set-but-unreachable URL is an error."""

from __future__ import annotations

import socket

import pytest

pytest_plugins = ["pytester"]

SAMPLE = """
import sqlmodelx as sx

class PlugThing(sx.Model):
    name: str = ""

async def test_roundtrip(sx_database):
    await PlugThing.objects.create(name="a")
    assert await PlugThing.objects.count() == 1
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_header_lists_backends(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQLMODELX_TEST_POSTGRES_URL", raising=False)
    monkeypatch.delenv("SQLMODELX_TEST_MYSQL_URL", raising=False)
    monkeypatch.delenv("SQLMODELX_REQUIRE_BACKENDS", raising=False)
    pytester.makepyfile(SAMPLE)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["sqlmodelx backends:", "  sqlite: sqlite+aiosqlite:///*", "  postgres: SKIPPED*"])
    result.assert_outcomes(passed=1, skipped=2)


def test_set_but_unreachable_url_is_an_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    monkeypatch.setenv("SQLMODELX_TEST_POSTGRES_URL", f"postgresql://postgres@127.0.0.1:{port}/test")
    monkeypatch.delenv("SQLMODELX_TEST_MYSQL_URL", raising=False)
    monkeypatch.delenv("SQLMODELX_REQUIRE_BACKENDS", raising=False)
    pytester.makepyfile(SAMPLE)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines([f"*SQLMODELX_TEST_POSTGRES_URL is set to*127.0.0.1:{port}*does not answer*"])


def test_required_backend_that_is_missing_fails(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQLMODELX_TEST_POSTGRES_URL", raising=False)
    monkeypatch.delenv("SQLMODELX_TEST_MYSQL_URL", raising=False)
    monkeypatch.setenv("SQLMODELX_REQUIRE_BACKENDS", "sqlite,postgres")
    pytester.makepyfile(SAMPLE)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*SQLMODELX_REQUIRE_BACKENDS requires postgres*"])
