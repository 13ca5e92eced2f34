"""sqlmodelx: an async-first, Django-style ORM layer on top of SQLAlchemy Core."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("sqlmodelx")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from . import registry
from .database import Database
from .eager import Prefetch
from .exc import (
    ConfigurationError,
    DatabaseUnavailableError,
    FieldError,
    IntegrityError,
    MultipleObjectsReturned,
    NoDatabaseError,
    NotLoadedError,
    NotSupportedError,
    ObjectDoesNotExist,
    ProtectedError,
    SessionError,
    SqlModelXError,
    StaleObjectError,
    ValidationError,
)
from .expressions import F, Q, Value
from .fields import Field, ForeignKey, ManyToMany, OneToOne, VersionField, utcnow
from .lookups import Lookup, register_lookup
from .model import NAMING_CONVENTION, Model
from .query import QuerySet
from .session import Session

configure = registry.configure

__all__ = [
    "NAMING_CONVENTION",
    "ConfigurationError",
    "Database",
    "DatabaseUnavailableError",
    "F",
    "Field",
    "FieldError",
    "ForeignKey",
    "IntegrityError",
    "Lookup",
    "ManyToMany",
    "Model",
    "MultipleObjectsReturned",
    "NoDatabaseError",
    "NotLoadedError",
    "NotSupportedError",
    "ObjectDoesNotExist",
    "OneToOne",
    "Prefetch",
    "ProtectedError",
    "Q",
    "QuerySet",
    "Session",
    "SessionError",
    "SqlModelXError",
    "StaleObjectError",
    "ValidationError",
    "Value",
    "VersionField",
    "__version__",
    "configure",
    "register_lookup",
    "utcnow",
]
