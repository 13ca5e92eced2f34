"""sqlmodelx: an async-first, Django-style ORM layer on top of SQLAlchemy Core."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("sqlmodelx")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from . import registry
from .aggregates import Aggregate, Avg, Count, Max, Min, Sum
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
from .expressions import Case, Coalesce, Exists, F, OuterRef, Q, Subquery, Value, When
from .fields import Field, ForeignKey, ManyToMany, OneToOne, VersionField, utcnow
from .lookups import Lookup, Transform, register_lookup
from .model import NAMING_CONVENTION, Model
from .query import QuerySet
from .session import Session

configure = registry.configure

__all__ = [
    "NAMING_CONVENTION",
    "Aggregate",
    "Avg",
    "Case",
    "Coalesce",
    "ConfigurationError",
    "Count",
    "Database",
    "DatabaseUnavailableError",
    "Exists",
    "F",
    "Field",
    "FieldError",
    "ForeignKey",
    "IntegrityError",
    "Lookup",
    "ManyToMany",
    "Max",
    "Min",
    "Model",
    "MultipleObjectsReturned",
    "NoDatabaseError",
    "NotLoadedError",
    "NotSupportedError",
    "ObjectDoesNotExist",
    "OneToOne",
    "OuterRef",
    "Prefetch",
    "ProtectedError",
    "Q",
    "QuerySet",
    "Session",
    "SessionError",
    "SqlModelXError",
    "StaleObjectError",
    "Subquery",
    "Sum",
    "Transform",
    "ValidationError",
    "Value",
    "VersionField",
    "When",
    "__version__",
    "configure",
    "register_lookup",
    "utcnow",
]
