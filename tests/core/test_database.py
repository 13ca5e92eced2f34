"""Database URLs, drivers, defaults and unreachable servers."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest

import sqlmodelx as sx
from sqlmodelx import _context
from sqlmodelx.database import async_url


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///app.db", "sqlite+aiosqlite"),
        ("sqlite:///:memory:", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("mysql://u@h/db", "mysql+aiomysql"),
        ("mariadb://u@h/db", "mysql+aiomysql"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_plain_urls_get_the_async_driver(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


def test_mysql_urls_default_to_utf8mb4() -> None:
    assert async_url("mysql://u@h/db").query["charset"] == "utf8mb4"


@pytest.mark.parametrize("url", ["oracle://u@h/db", "postgresql+psycopg2://u@h/db", "nonsense"])
def test_bad_url_scheme(url: str) -> None:
    with pytest.raises(sx.ConfigurationError) as info:
        sx.Database(url, default=False)
    assert "postgresql://" in str(info.value) or "not a database URL" in str(info.value)


def test_missing_driver_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "import sqlmodelx as sx\n"
        "try:\n"
        "    sx.Database('postgresql://u@127.0.0.1/db')\n"
        "except sx.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'sqlmodelx[postgres]'" in out.stdout, out.stderr


def test_engine_or_url_exactly_one() -> None:
    with pytest.raises(sx.ConfigurationError, match="exactly one"):
        sx.Database()
    with pytest.raises(sx.ConfigurationError, match="AsyncEngine"):
        sx.Database(engine=object())  # type: ignore[arg-type]


async def test_refused_connection_names_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = sx.Database(f"postgresql://postgres@127.0.0.1:{port}/x", default=False)
    try:
        with pytest.raises(sx.DatabaseUnavailableError) as info:
            async with db.engine.connect():
                pass
        assert f"127.0.0.1:{port}" in str(info.value)
    finally:
        await db.close()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
async def test_silent_server_times_out(scheme: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # accepts the TCP handshake, never answers
    port = listener.getsockname()[1]
    db = sx.Database(f"{scheme}://u@127.0.0.1:{port}/x", default=False, connect_timeout=1)
    try:
        started = time.monotonic()
        with pytest.raises(sx.DatabaseUnavailableError) as info:
            await asyncio.wait_for(CoreQuery(db), 15)
        assert time.monotonic() - started < 10
        assert f"127.0.0.1:{port}" in str(info.value)
    finally:
        listener.close()
        await db.close()


async def CoreQuery(db: sx.Database) -> None:  # noqa: N802 - reads as a call site
    async with db.engine.connect():
        pass


def test_no_database_error_says_how_to_create_one() -> None:
    saved = list(_context._default)
    _context._default.clear()
    try:
        from .models_catalog import CoreAuthor

        with pytest.raises(sx.NoDatabaseError, match=r"sx.Database\("):
            _context.runner_for(None)
        assert CoreAuthor.objects.filter(name="a") is not None  # building a query needs no database
    finally:
        _context._default[:] = saved


async def test_first_database_is_default_and_make_default() -> None:
    saved = list(_context._default)
    _context._default.clear()
    try:
        a = sx.Database("sqlite:///:memory:", name="core_a")
        b = sx.Database("sqlite:///:memory:", name="core_b")
        assert _context.default_database() is a
        b.make_default()
        assert _context.default_database() is b
        c = sx.Database("sqlite:///:memory:", name="core_c", default=True)
        assert _context.default_database() is c
        for db in (a, b, c):
            await db.close()
    finally:
        _context._default[:] = saved
