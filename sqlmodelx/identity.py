"""The identity map: within a session, one primary key is one Python object (L4).

Objects are held weakly (``weakref.ref`` in plain dicts, pruned lazily), so a long
session that reads many rows does not keep them alive; objects with unflushed changes
are held strongly by the session's unit of work until they are flushed.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any


class IdentityMap:
    """``(model plan, primary key) -> object``, weakly held."""

    __slots__ = ("_maps", "_inserts", "_prune_at")

    def __init__(self) -> None:
        self._maps: dict[Any, dict[Any, weakref.ref[Any]]] = {}
        self._inserts = 0
        self._prune_at = 1024

    def for_plan(self, plan: Any) -> dict[Any, weakref.ref[Any]]:
        """The map of one model; hot loops read and write it directly."""
        table = self._maps.get(plan)
        if table is None:
            table = self._maps[plan] = {}
        return table

    def get(self, plan: Any, key: Any) -> Any | None:
        ref = self._maps.get(plan, {}).get(key)
        return ref() if ref is not None else None

    def add(self, plan: Any, key: Any, obj: Any) -> None:
        self.for_plan(plan)[key] = weakref.ref(obj)
        self.note_inserts(1)

    def discard(self, plan: Any, key: Any, obj: Any | None = None) -> None:
        table = self._maps.get(plan)
        if table is None:
            return
        ref = table.get(key)
        if ref is not None and (obj is None or ref() is obj):
            del table[key]

    def note_inserts(self, count: int) -> None:
        self._inserts += count
        if self._inserts >= self._prune_at:
            self.prune()

    def prune(self) -> None:
        """Drop entries whose object was garbage-collected."""
        live = 0
        for table in self._maps.values():
            dead = [k for k, r in table.items() if r() is None]
            for k in dead:
                del table[k]
            live += len(table)
        self._inserts = 0
        self._prune_at = max(1024, live * 2)

    def objects(self) -> Iterator[Any]:
        for table in self._maps.values():
            for ref in list(table.values()):
                obj = ref()
                if obj is not None:
                    yield obj

    def clear(self) -> None:
        self._maps.clear()
        self._inserts = 0

    def __len__(self) -> int:
        return sum(1 for _ in self.objects())
