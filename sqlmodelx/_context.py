"""Where a query runs: the current task's session and the registered databases (L0).

The layers below the session (model, query) must run statements without importing the
session module. They ask this module for a *runner*: the session bound to the current
task, or a database that runs each call in its own short transaction. Sessions and
databases register themselves here; nothing here knows their classes.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from .exc import ConfigurationError, NoDatabaseError

#: The session opened by ``async with db.session()`` in this task (and tasks it spawns).
current_session: ContextVar[Any | None] = ContextVar("sqlmodelx_session", default=None)

_databases: dict[str, Any] = {}
_default: list[Any] = []


def register_database(name: str, database: Any, *, default: bool | None) -> None:
    _databases[name] = database
    if default or (default is None and not _default):
        set_default(database)


def unregister_database(database: Any) -> None:
    for name, db in list(_databases.items()):
        if db is database:
            del _databases[name]
    if _default and _default[0] is database:
        _default.clear()


def set_default(database: Any) -> None:
    _default[:] = [database]


def default_database() -> Any | None:
    return _default[0] if _default else None


def database_named(name: str) -> Any:
    try:
        return _databases[name]
    except KeyError:
        known = ", ".join(sorted(_databases)) or "none"
        raise ConfigurationError(
            f"no database named {name!r} (known: {known}); "
            f"create it with sx.Database(url, name={name!r})"
        ) from None


def runner_for(using: Any = None) -> Any:
    """The session or database that should run a statement.

    ``using`` is None (the current session, else the default database), a database name,
    a database, or a session.
    """
    session = current_session.get()
    if using is None:
        if session is not None and not session.closed:
            return session
        database = default_database()
        if database is None:
            raise NoDatabaseError(
                "no session is open and no default database exists: create one with "
                "`db = sx.Database('sqlite:///app.db')` (the first Database becomes the default) "
                "or run inside `async with db.session():`"
            )
        return database
    if isinstance(using, str):
        using = database_named(using)
    if getattr(using, "_sx_is_database", False):
        if session is not None and not session.closed and session.database is using:
            return session
        return using
    if getattr(using, "_sx_is_session", False):
        return using
    raise ConfigurationError(
        f"using() takes a database name, a Database or a Session, not {type(using).__name__}"
    )
