"""Every error sqlmodelx raises, under one base class.

::

    SqlModelXError
    ├── ConfigurationError          a model, field or database is declared wrongly
    │   └── NoDatabaseError         a query ran with no session and no default database
    ├── FieldError                  a name (filter key, order_by, values, F) is not a field
    ├── ValidationError (+ValueError) field values break the model's rules
    ├── NotLoadedError (+AttributeError) a relation or deferred field was not loaded
    ├── NotSupportedError           the backend lacks a feature; names the backend
    ├── ObjectDoesNotExist          base of every ``Model.DoesNotExist``
    ├── MultipleObjectsReturned     base of every ``Model.MultipleObjectsReturned``
    ├── SessionError                the session is closed, or the object belongs elsewhere
    ├── StaleObjectError            optimistic locking found a newer version
    ├── ProtectedError              ON DELETE PROTECT refused a delete
    ├── IntegrityError              a constraint failed (wraps the driver's error)
    └── DatabaseUnavailableError    the server did not answer; names host and port

Driver errors are never swallowed: where sqlmodelx adds context it raises its own error
``from`` the original, so ``exc.__cause__`` is the SQLAlchemy / DBAPI exception.
"""

from __future__ import annotations

from typing import Any


class SqlModelXError(Exception):
    """Base class of every sqlmodelx error."""


class ConfigurationError(SqlModelXError):
    """A model, field, relation or database is declared in a way that cannot work."""


class NoDatabaseError(ConfigurationError):
    """A query ran outside a session and no default database exists."""


class FieldError(SqlModelXError):
    """A name given to a query does not resolve to a field of the model."""


class NotLoadedError(SqlModelXError, AttributeError):
    """A relation or deferred field was read before it was loaded."""


class NotSupportedError(SqlModelXError):
    """The database in use cannot do what was asked."""


class ObjectDoesNotExist(SqlModelXError):
    """Base of every model's ``DoesNotExist``."""


class MultipleObjectsReturned(SqlModelXError):
    """Base of every model's ``MultipleObjectsReturned``."""


class SessionError(SqlModelXError):
    """The session cannot do this: closed, or the object belongs to another session."""


class StaleObjectError(SqlModelXError):
    """An optimistic-lock check found that another transaction changed the row."""


class ProtectedError(SqlModelXError):
    """A delete was refused because protected related rows still point at the object."""

    def __init__(self, message: str, protected_objects: Any = ()) -> None:
        super().__init__(message)
        self.protected_objects = protected_objects


class IntegrityError(SqlModelXError):
    """A database constraint (unique, foreign key, not null, check) rejected a write."""


class DatabaseUnavailableError(SqlModelXError):
    """The database server could not be reached."""


class ValidationError(SqlModelXError, ValueError):
    """One or more field values break the model's rules; every failure is listed.

    ``errors()`` returns one dict per failure: ``{"field", "value", "message"}``.
    """

    def __init__(self, model_name: str, errors: list[dict[str, Any]]) -> None:
        self.model_name = model_name
        self._errors = errors
        lines = [f"{len(errors)} invalid value{'s' if len(errors) != 1 else ''} for {model_name}:"]
        for error in errors:
            lines.append(f"  {error['field']}: {error['message']} (got {error['value']!r})")
        super().__init__("\n".join(lines))

    def errors(self) -> list[dict[str, Any]]:
        return [dict(error) for error in self._errors]
