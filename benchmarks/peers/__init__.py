"""The peers, in table order. Each module defines `Peer`, a subclass of `peers.base.Peer`.

The harness imports a peer's module only inside that peer's own child process, so one peer's
imports (or import failure) never touch another's figures.
"""

from __future__ import annotations

import importlib

from benchmarks.peers.base import Peer

PEERS = {
    "raw": "benchmarks.peers.raw",
    "core": "benchmarks.peers.core",
    "orm": "benchmarks.peers.orm",
    "sqlmodel": "benchmarks.peers.sqlmodel_peer",
    "tortoise": "benchmarks.peers.tortoise_peer",
    "sqlmodelx": "benchmarks.peers.sqlmodelx_peer",
}

# What each peer imports, for the version line of the report.
DISTRIBUTIONS = {
    "raw": ["aiosqlite", "asyncpg", "aiomysql", "PyMySQL"],
    "core": ["SQLAlchemy"],
    "orm": ["SQLAlchemy"],
    "sqlmodel": ["sqlmodel", "pydantic"],
    "tortoise": ["tortoise-orm", "pypika-tortoise"],
    "sqlmodelx": ["sqlmodelx"],
}


def load(name: str) -> Peer:
    module = importlib.import_module(PEERS[name])
    peer: Peer = module.Peer()
    return peer
