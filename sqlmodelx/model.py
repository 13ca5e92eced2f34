"""Model classes: declarations become a SQLAlchemy ``Table`` and a per-model plan (L2).

Everything a row or a constructor needs (column order, coercers, defaults, primary key)
is computed once here, when the class is created, and kept on ``Model.__sx_plan__``.
"""

from __future__ import annotations

import keyword
import sys
import typing
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, dataclass_transform, overload

import sqlalchemy as sa

from . import _context, registry
from ._typing import MISSING
from ._validate import Coercer, build_coercer, passthrough_test, value_converter
from .exc import (
    ConfigurationError,
    MultipleObjectsReturned,
    NotLoadedError,
    ObjectDoesNotExist,
    ValidationError,
)
from .fields import (
    Field,
    FieldInfo,
    ForeignKey,
    ForeignKeyInfo,
    ManyToMany,
    ManyToManyInfo,
    OneToOne,
    VersionField,
    sa_type_for,
    snake_case,
    split_optional,
)

if TYPE_CHECKING:
    from .query import QuerySet

__all__ = ["Model", "ModelMeta", "ModelPlan", "NAMING_CONVENTION"]

M = TypeVar("M", bound="Model")

#: Deterministic constraint names, so Alembic revisions are stable across machines.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class FieldSpec:
    """One column field of a model, as the plan keeps it."""

    __slots__ = (
        "name",
        "column",
        "annotation",
        "info",
        "nullable",
        "coerce",
        "relation",
        "auto",
        "to_python",
    )

    def __init__(
        self,
        name: str,
        column: sa.Column[Any],
        annotation: Any,
        info: FieldInfo,
        nullable: bool,
        coerce: Coercer,
        relation: str | None = None,
    ) -> None:
        self.name = name
        self.column = column
        self.annotation = annotation
        self.info = info
        self.nullable = nullable
        self.coerce = coerce
        #: For a foreign key column (``author_id``): the relation attribute (``author``).
        self.relation = relation
        #: The database fills it when absent (autoincrement primary key, server default).
        self.auto = False
        #: Type conversion for values compared with this field in filters (or None).
        self.to_python = value_converter(annotation, info)


class RelationSpec:
    """A to-one relation (``book.author``) backed by a foreign key column.

    ``kind`` and ``many`` are shared with the reverse and many-to-many relations of
    :mod:`sqlmodelx.relations`, so code walking ``plan.relations`` / ``plan.related`` can
    tell them apart without importing them.
    """

    kind: ClassVar[str] = "forward"
    many: ClassVar[bool] = False

    __slots__ = (
        "name",
        "model",
        "target",
        "target_name",
        "column_name",
        "to_field",
        "info",
        "nullable",
        "related_name",
    )

    def __init__(
        self,
        name: str,
        model: type[Model],
        target_name: str,
        column_name: str,
        info: ForeignKeyInfo,
        nullable: bool,
    ) -> None:
        self.name = name
        self.model = model
        self.target: type[Model] | None = None
        self.target_name = target_name
        self.column_name = column_name
        self.to_field = info.to_field
        self.info = info
        self.nullable = nullable
        self.related_name = info.related_name


class ModelPlan:
    """What the hot paths need about a model, computed once at class creation."""

    def __init__(self, model: type[Model], table: sa.Table) -> None:
        self.model = model
        self.table = table
        self.fields: dict[str, FieldSpec] = {}
        self.relations: dict[str, RelationSpec] = {}
        #: Reverse relations, many-to-many and other relation descriptors by name.
        self.related: dict[str, Any] = {}
        self.pk_names: tuple[str, ...] = ()
        self.version_field: str | None = None
        self.init_order: tuple[str, ...] = ()
        #: Coerce and check every field a new object's ``__dict__`` holds, in place; one
        #: ValidationError lists every failure (generated per model: ``_validator``).
        self.validate_fields: Callable[[dict[str, Any]], None] = _no_fields
        self._loaders: dict[tuple[str, ...], Callable[..., Any]] = {}

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def pk_of(self, values: dict[str, Any]) -> Any:
        """The identity of a row: the scalar key, or a tuple for a composite key."""
        if len(self.pk_names) == 1:
            return values.get(self.pk_names[0])
        return tuple(values.get(n) for n in self.pk_names)

    def all_names(self) -> list[str]:
        """Every name a query may use on this model, for error messages."""
        return [*self.fields, *self.relations, *self.related]


def _no_fields(values: dict[str, Any]) -> None:
    """``validate_fields`` of a plan whose model is still being built."""


class _ColumnAttribute:
    """``Model.name`` is the Core column; ``instance.name`` is the value in ``__dict__``.

    A non-data descriptor: an instance reads its own ``__dict__`` first, so this only
    runs for a field that was not loaded (``only()`` / ``defer()``).
    """

    __slots__ = ("name", "column", "model_name")

    def __init__(self, name: str, column: sa.Column[Any], model_name: str) -> None:
        self.name = name
        self.column = column
        self.model_name = model_name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self.column
        if "_sx_cols" not in instance.__dict__:
            return None  # a new object: the database has not assigned this value yet
        raise NotLoadedError(
            f"{self.model_name}.{self.name} was not loaded (the query used only() or defer()); "
            f"use `await obj.refresh()` or leave it out of defer()"
        )


class _ForeignKeyColumnAttribute(_ColumnAttribute):
    """``book.author_id``: a column attribute whose assignment forgets a stale ``book.author``.

    A data descriptor, so ``book.author_id = 7`` passes here: the loaded ``book.author``
    is dropped unless it is the object with that key (reading it then raises
    ``NotLoadedError`` instead of answering with the old author).
    """

    __slots__ = ("relation",)

    def __init__(self, name: str, column: sa.Column[Any], model_name: str, relation: str) -> None:
        super().__init__(name, column, model_name)
        self.relation = relation

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self.column
        try:
            return instance.__dict__[self.name]
        except KeyError:
            return super().__get__(instance, owner)

    def __set__(self, instance: Any, value: Any) -> None:
        d = instance.__dict__
        d[self.name] = value
        loaded = d.get(self.relation, MISSING)
        if loaded is MISSING:
            return
        if loaded is None:
            stale = value is not None
        else:
            spec = type(instance).__sx_plan__.relations[self.relation]
            stale = loaded.__dict__.get(spec.to_field or _single_pk(type(loaded))) != value
        if stale:
            del d[self.relation]


def relation_not_loaded(label: str, name: str, tail: str = ".") -> NotLoadedError:
    """The error for reading an unloaded relation: names it and the three ways to load it."""
    return NotLoadedError(
        f"{label} is not loaded and async code cannot load it silently. Load it with "
        f"`.select_related({name!r})` or `.prefetch_related({name!r})` on the query, "
        f"or `await obj.load({name!r})`{tail}"
    )


class _RelationAttribute:
    """``book.author``: the loaded object, or ``NotLoadedError`` (never a silent query)."""

    __slots__ = ("spec",)

    def __init__(self, spec: RelationSpec) -> None:
        self.spec = spec

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        d = instance.__dict__
        try:
            return d[self.spec.name]
        except KeyError:
            pass
        if d.get(self.spec.column_name) is None and self.spec.column_name in d:
            return None
        spec = self.spec
        raise relation_not_loaded(
            f"{spec.model.__name__}.{spec.name}",
            spec.name,
            f"; `obj.{spec.column_name}` holds the id without a query.",
        )

    def __set__(self, instance: Any, value: Any) -> None:
        spec = self.spec
        d = instance.__dict__
        if value is None:
            if not spec.nullable:
                raise ValueError(f"{spec.model.__name__}.{spec.name} may not be None")
            d[spec.name] = None
            key = None
        else:
            target = spec.target
            if target is not None and not isinstance(value, target):
                raise TypeError(
                    f"{spec.model.__name__}.{spec.name} takes a {target.__name__}, "
                    f"not {type(value).__name__} (assign the id to {spec.column_name})"
                )
            d[spec.name] = value
            key = value.__dict__.get(spec.to_field or _single_pk(type(value)))
        if d.get(spec.column_name, MISSING) != key:
            instance.__setattr__(spec.column_name, key)

    def __clause_element__(self) -> Any:
        return self.spec.model.__table__.c[self.spec.column_name]


def _single_pk(model: type[Model]) -> str:
    names = model.__sx_plan__.pk_names
    if len(names) != 1:
        raise ConfigurationError(f"{model.__name__} has a composite primary key; use to_field=")
    return names[0]


class _Objects:
    """``Model.objects``: a fresh ``QuerySet`` of the model on every access."""

    @overload
    def __get__(self, instance: None, owner: type[M]) -> QuerySet[M]: ...

    @overload
    def __get__(self, instance: Model, owner: type[M]) -> QuerySet[M]: ...

    def __get__(self, instance: Any, owner: type[M]) -> QuerySet[M]:
        if instance is not None:
            raise AttributeError(
                f"objects is reached through the class ({owner.__name__}.objects), not an instance"
            )
        factory = _queryset_factory[0]
        return factory(owner)  # type: ignore[no-any-return]


_queryset_factory: list[Callable[[type[Any]], Any]] = []


def set_queryset_factory(factory: Callable[[type[Any]], Any]) -> None:
    """Called once by :mod:`sqlmodelx.query` so ``Model.objects`` builds its QuerySet."""
    _queryset_factory[:] = [factory]


def _resolve_annotation(
    annotation: Any, module: str, namespace: dict[str, Any], outer: dict[str, Any]
) -> Any:
    """Evaluate a string annotation; a name not defined yet comes back as the string.

    Names resolve in the class body, then the scope that defines the class (a function's
    locals included, as pydantic does), then the module.
    """
    if not isinstance(annotation, str):
        return annotation
    globalns = dict(vars(sys.modules[module])) if module in sys.modules else {}
    localns = {**outer, **namespace}
    try:
        return eval(annotation, globalns, localns)  # noqa: S307 - the class's own annotation
    except NameError:
        return annotation


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _forward_name(annotation: Any) -> tuple[str | type | None, bool]:
    """The target of a relation annotation: a model class, a model name, or None."""
    if isinstance(annotation, str):
        text = annotation.strip().strip("'\"")
        nullable = False
        parts = [p.strip() for p in text.split("|")]
        if "None" in parts:
            nullable = True
            parts = [p for p in parts if p != "None"]
        if text.startswith("Optional["):
            return text[len("Optional[") : -1].strip("'\""), True
        return (parts[0].strip("'\"") if len(parts) == 1 else None), nullable
    inner, nullable = split_optional(annotation)
    if isinstance(inner, typing.ForwardRef):
        return inner.__forward_arg__, nullable
    if isinstance(inner, str):
        return inner, nullable
    return inner, nullable


@dataclass_transform(
    kw_only_default=True,
    field_specifiers=(Field, ForeignKey, OneToOne, ManyToMany, VersionField),
)
class ModelMeta(type):
    """Builds the Table, the attributes and the plan of every model class."""

    __table__: sa.Table
    __sx_plan__: ModelPlan

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        abstract: bool = False,
        metadata: sa.MetaData | None = None,
        **kwargs: Any,
    ) -> ModelMeta:
        if not any(isinstance(b, ModelMeta) for b in bases):
            # The root ``Model`` class itself.
            cls = super().__new__(mcls, name, bases, namespace, **kwargs)
            cls.__sx_abstract__ = True  # type: ignore[attr-defined]
            cls.__sx_declared__ = {}  # type: ignore[attr-defined]
            return cls
        frame = sys._getframe(1)
        outer = {**frame.f_globals, **frame.f_locals}
        del frame
        declared = _collect_declarations(name, bases, namespace, outer)
        for attr in declared:
            namespace.pop(attr, None)
        if metadata is None:
            metadata = next(
                (b.metadata for b in bases if isinstance(b, ModelMeta) and hasattr(b, "metadata")),
                None,
            )
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        cls.__sx_declared__ = declared  # type: ignore[attr-defined]
        cls.__sx_abstract__ = abstract  # type: ignore[attr-defined]
        if metadata is not None:
            cls.metadata = metadata  # type: ignore[attr-defined]
        if abstract:
            return cls
        _build_concrete(cls, name, namespace)  # type: ignore[arg-type]
        return cls

    def __clause_element__(cls) -> sa.Table:
        """``sa.select(Author)`` selects from the model's table."""
        try:
            return cls.__dict__["__table__"]  # type: ignore[no-any-return]
        except KeyError:
            raise ConfigurationError(f"{cls.__name__} is abstract and has no table") from None

    def __repr__(cls) -> str:
        return f"<model {cls.__module__}.{cls.__qualname__}>"


def _collect_declarations(
    name: str, bases: tuple[type, ...], namespace: dict[str, Any], outer: dict[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Fields inherited from abstract bases, then this class's own, in declaration order."""
    declared: dict[str, tuple[Any, Any]] = {}
    for base in reversed(bases):
        for base_cls in reversed(base.__mro__):
            inherited = base_cls.__dict__.get("__sx_declared__")
            if inherited:
                if not base_cls.__dict__.get("__sx_abstract__", False):
                    raise ConfigurationError(
                        f"{name} subclasses the concrete model {base_cls.__name__}; "
                        f"model inheritance maps only abstract bases for now "
                        f"(declare `class {base_cls.__name__}(sx.Model, abstract=True)`)"
                    )
                declared.update(inherited)
    module = namespace.get("__module__", "")
    annotations = namespace.get("__annotations__", {})
    for attr, annotation in annotations.items():
        if attr.startswith("_") or _is_classvar(annotation):
            continue
        resolved = _resolve_annotation(annotation, module, namespace, outer)
        if _is_classvar(resolved):
            continue
        declared[attr] = (resolved, namespace.get(attr, MISSING))
    for attr, value in namespace.items():
        if isinstance(value, (FieldInfo, ForeignKeyInfo, ManyToManyInfo)) and attr not in annotations:
            raise ConfigurationError(
                f"{name}.{attr} has a field specifier but no annotation; write `{attr}: <type> = ...`"
            )
    return declared


def _build_concrete(cls: type[Model], name: str, namespace: dict[str, Any]) -> None:
    metadata: sa.MetaData = cls.metadata
    tablename = namespace.get("__tablename__") or snake_case(name)
    existing = metadata.tables.get(tablename)
    if existing is not None:
        owner = existing.info.get("sqlmodelx_model")
        owner_name = f"{owner.__module__}.{owner.__qualname__}" if owner else "a plain Table"
        raise ConfigurationError(
            f"{cls.__module__}.{name} wants table {tablename!r}, which {owner_name} already has "
            f"in this MetaData; set a different __tablename__ on one of them"
        )
    columns: list[sa.Column[Any]] = []
    specs: list[tuple[str, sa.Column[Any], Any, FieldInfo, bool, str | None]] = []
    relations: list[tuple[str, Any, ForeignKeyInfo, bool]] = []
    m2m: list[tuple[str, Any, ManyToManyInfo]] = []
    declared: dict[str, tuple[Any, Any]] = cls.__sx_declared__  # type: ignore[attr-defined]

    for attr, (annotation, value) in declared.items():
        if isinstance(value, ManyToManyInfo):
            m2m.append((attr, annotation, value))
            continue
        target, nullable = _forward_name(annotation)
        is_model = isinstance(target, type) and isinstance(target, ModelMeta)
        if isinstance(value, ForeignKeyInfo) or is_model or (
            isinstance(annotation, str) and registry.lookup(str(target), None) is not None
        ):
            fk_spec = value if isinstance(value, ForeignKeyInfo) else ForeignKeyInfo()
            relations.append((attr, fk_spec.to if fk_spec.to is not None else target, fk_spec, nullable))
            continue
        info = value if isinstance(value, FieldInfo) else FieldInfo(default=value)
        if info.sa_column is not None:
            column = info.sa_column
            column.key = attr
            if column.name is None:
                column.name = attr
            columns.append(column)
            specs.append((attr, column, annotation, info, bool(column.nullable), None))
            continue
        if isinstance(annotation, str):
            raise ConfigurationError(
                f"{name}.{attr}: cannot resolve the annotation {annotation!r}; define or import "
                f"the type in the model's module, or pass sa_type= / sa_column="
            )
        inner, optional = split_optional(annotation)
        nullable = optional if info.nullable is None else info.nullable
        try:
            sa_type = info.sa_type if info.sa_type is not None else sa_type_for(inner, info)
        except TypeError as exc:
            raise ConfigurationError(
                f"{name}.{attr}: unsupported annotation {annotation!r} ({exc}); "
                f"use a supported type or pass sa_type= / sa_column="
            ) from None
        if isinstance(sa_type, type):
            sa_type = sa_type()
        column = sa.Column(
            info.db_column or attr,
            sa_type,
            key=attr,
            primary_key=info.primary_key,
            nullable=nullable if not info.primary_key else False,
            index=info.index or None,
            unique=info.unique or None,
            autoincrement=info.autoincrement,
            server_default=info.server_default,
            comment=info.comment,
        )
        if info.has_default() and (info.default_factory is not None or info.default is not None):
            # sa.ColumnDefault(None) cannot be copied: Alembic autogenerate and
            # Table.to_metadata() fail on it. A None default is NULL anyway.
            column.default = sa.ColumnDefault(_column_default(info))
        columns.append(column)
        specs.append((attr, column, inner, info, nullable, None))

    table_args = namespace.get("__table_args__", ())
    if isinstance(table_args, dict):
        table_args = (table_args,)
    positional = [a for a in table_args if not isinstance(a, dict)]
    keyword: dict[str, Any] = {}
    for a in table_args:
        if isinstance(a, dict):
            keyword.update(a)

    has_pk = any(c.primary_key for c in columns) or any(r[2].primary_key for r in relations)
    if not has_pk:
        if "id" in declared:
            raise ConfigurationError(f"{name}.id is declared but is not the primary key")
        id_info = FieldInfo(primary_key=True)
        id_column = sa.Column("id", sa.Integer(), key="id", primary_key=True, autoincrement=True)
        columns.insert(0, id_column)
        specs.insert(0, ("id", id_column, int, id_info, False, None))

    # Foreign key columns need the target's key type, so they are added when the target
    # exists; a plain nullable placeholder keeps the column order stable meanwhile.
    fk_columns: list[tuple[str, sa.Column[Any], ForeignKeyInfo, bool, Any]] = []
    for attr, target, fk_decl, nullable in relations:
        column_name = fk_decl.db_column or f"{attr}_id"
        column = sa.Column(
            column_name,
            key=f"{attr}_id",
            primary_key=fk_decl.primary_key,
            nullable=nullable,
            index=(fk_decl.index and not fk_decl.unique and not fk_decl.primary_key) or None,
            unique=fk_decl.unique or None,
        )
        columns.append(column)
        fk_columns.append((attr, column, fk_decl, nullable, target))

    table = sa.Table(tablename, metadata, *columns, *positional, **keyword)
    table.info["sqlmodelx_model"] = cls
    cls.__table__ = table
    cls.__tablename__ = tablename
    plan = ModelPlan(cls, table)
    cls.__sx_plan__ = plan
    for attr, column, annotation, info, nullable, _ in specs:
        spec = FieldSpec(attr, column, annotation, info, nullable, build_coercer(annotation, info, nullable))
        spec.auto = bool(
            (column.primary_key and column.autoincrement in (True, "auto")
             and isinstance(column.type, sa.Integer) and not info.has_default())
            or column.server_default is not None
        )
        plan.fields[attr] = spec
        if info.version:
            plan.version_field = attr
    for attr, column, fk_decl, nullable, _target in fk_columns:
        fk_info = FieldInfo(default=None if nullable else fk_decl.default, primary_key=fk_decl.primary_key)
        spec = FieldSpec(f"{attr}_id", column, Any, fk_info, nullable, _fk_coercer(nullable), relation=attr)
        plan.fields[f"{attr}_id"] = spec
    plan.pk_names = tuple(c.key for c in table.primary_key.columns)
    # init order: declared order, then FK id columns.
    plan.init_order = tuple(plan.fields)

    for attr, spec in plan.fields.items():
        if spec.relation is not None:
            setattr(cls, attr, _ForeignKeyColumnAttribute(attr, spec.column, name, spec.relation))
        else:
            setattr(cls, attr, _ColumnAttribute(attr, spec.column, name))
    for attr, column, fk_decl, nullable, target in fk_columns:
        target_name = target if isinstance(target, str) else target.__name__
        rel = RelationSpec(attr, cls, target_name, f"{attr}_id", fk_decl, nullable)
        plan.relations[attr] = rel
        setattr(cls, attr, _RelationAttribute(rel))
        registry.when_defined(
            target_name if isinstance(target, str) else target.__name__,
            cls,
            attr,
            _fk_binder(rel, column),
        )
    for attr, target, m2m_decl in m2m:
        if not _many_to_many_hooks:
            raise ConfigurationError(f"{name}.{attr}: many-to-many relations are not available yet")
        _many_to_many_hooks[0](cls, attr, target, m2m_decl)

    cls.DoesNotExist = type(
        "DoesNotExist", (ObjectDoesNotExist,), {"__module__": cls.__module__, "__qualname__": f"{name}.DoesNotExist"}
    )
    cls.MultipleObjectsReturned = type(
        "MultipleObjectsReturned",
        (MultipleObjectsReturned,),
        {"__module__": cls.__module__, "__qualname__": f"{name}.MultipleObjectsReturned"},
    )
    plan.validate_fields = _validator(plan)
    # Not a user's own __init__ (a generated one is inherited from a field-less concrete parent).
    if cls.__init__ is Model.__init__ or getattr(cls.__init__, "__sx_generated__", False):
        cls.__init__ = _init_function(plan) or Model.__init__  # type: ignore[method-assign]
    registry.register(cls)


#: Set by the relations module: builds many-to-many descriptors and association tables.
_many_to_many_hooks: list[Callable[..., None]] = []
#: Called with each relation once its target exists (reverse descriptors are added there).
_relation_bound_hooks: list[Callable[[RelationSpec], None]] = []


def _fk_coercer(nullable: bool) -> Coercer:
    def coerce(value: Any) -> Any:
        if value is None and not nullable:
            raise ValueError("may not be None (declare the relation as `Model | None` to allow NULL)")
        if isinstance(value, Model):
            raise ValueError(f"expected an id, got a {type(value).__name__} object")
        return value

    return coerce


def _fk_binder(rel: RelationSpec, column: sa.Column[Any]) -> Callable[[type[Model]], None]:
    def bind(target: type[Model]) -> None:
        rel.target = target
        target_plan = target.__sx_plan__
        to_field = rel.to_field or _single_pk(target)
        if to_field not in target_plan.fields:
            raise ConfigurationError(
                f"{rel.model.__name__}.{rel.name}: to_field={to_field!r} is not a field of {target.__name__}"
            )
        target_column = target_plan.fields[to_field].column
        column.type = _fk_type(target_column.type)
        column.append_foreign_key(
            sa.ForeignKey(
                target_column,
                ondelete=None if rel.info.on_delete in (None, "PROTECT") else rel.info.on_delete,
                onupdate=rel.info.on_update,
            )
        )
        for hook in _relation_bound_hooks:
            hook(rel)

    return bind


def _fk_type(target_type: Any) -> Any:
    """The type of a column that points at ``target_type`` (plain, no autoincrement)."""
    if isinstance(target_type, sa.Integer):
        return type(target_type)()
    return target_type


def _column_default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        factory = info.default_factory
        return lambda: factory()
    return info.default


class Model(metaclass=ModelMeta):
    """Base class of every sqlmodelx model.

    ``class Author(sx.Model): name: str = sx.Field(max_length=100)`` creates the table
    ``author`` in ``sx.Model.metadata``. Constructing an instance checks every field and
    reports all failures at once in :class:`sqlmodelx.ValidationError`.
    """

    metadata: ClassVar[sa.MetaData] = sa.MetaData(naming_convention=NAMING_CONVENTION)
    objects: ClassVar[_Objects] = _Objects()

    if TYPE_CHECKING:
        #: The implicit primary key most models have (a model may declare another key).
        id: int = Field(default=None)
        __table__: ClassVar[sa.Table]
        __tablename__: ClassVar[str]
        __sx_plan__: ClassVar[ModelPlan]
        DoesNotExist: ClassVar[type[ObjectDoesNotExist]]
        MultipleObjectsReturned: ClassVar[type[MultipleObjectsReturned]]

    def __init__(self, /, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if args:
            raise TypeError(
                f"{cls.__name__}() takes keyword arguments only, got {len(args)} positional "
                f"(write {cls.__name__}({', '.join(f'{n}=...' for n in cls.__sx_plan__.init_order[:2])}))"
            )
        plan = cls.__dict__.get("__sx_plan__")
        if plan is None:
            raise TypeError(f"{cls.__name__} is abstract and cannot be instantiated")
        object.__setattr__(self, "__dict__", _init_values(plan, kwargs))

    # -- dirty tracking -------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        session = self.__dict__.get("_sx_session")
        if session is not None:
            session._note_modified(self)

    # -- identity ------------------------------------------------------------------------

    @property
    def pk(self) -> Any:
        """The primary key value (a tuple for a composite key)."""
        return type(self).__sx_plan__.pk_of(self.__dict__)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Model) or type(other).__table__ is not type(self).__table__:
            return NotImplemented if not isinstance(other, Model) else False
        mine = self.pk
        return mine is not None and mine == other.pk

    def __hash__(self) -> int:
        key = self.pk
        if key is None or (isinstance(key, tuple) and None in key):
            raise TypeError(f"{type(self).__name__} instances without a primary key are unhashable")
        return hash((type(self).__table__.name, key))

    def __repr__(self) -> str:
        d = self.__dict__
        shown = ", ".join(
            f"{n}={d[n]!r}" for n in type(self).__sx_plan__.fields if n in d
        )
        return f"{type(self).__name__}({shown})"

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        d = self.__dict__
        for name in type(self).__sx_plan__.fields:
            if name in d:
                yield name, d[name]

    # -- unit of work shortcuts (Django's save/delete) -------------------------------------

    async def save(self) -> None:
        """INSERT a new object or UPDATE its changed fields, in the current session or autocommit."""
        await _context.runner_for(None).save_object(self)

    async def delete(self) -> None:
        """DELETE the row; the object becomes transient again (its pk is kept, as Django does)."""
        await _context.runner_for(None).delete_object(self)

    async def refresh(self) -> None:
        """Read every field again from the database."""
        await _context.runner_for(None).refresh_object(self)

    async def load(self, *relations: str) -> None:
        """Load relations on demand: ``await book.load("author", "tags")``."""
        await _context.runner_for(None).load_relations([self], relations)


def _init_values(plan: ModelPlan, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Defaults and coerced values for a new instance; raises with every failure at once."""
    model = plan.model
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    fields = plan.fields
    relations = plan.relations
    for key in kwargs:
        if key not in fields and key not in relations:
            if key in plan.related:
                raise TypeError(
                    f"{model.__name__}() cannot set the relation {key!r} in the constructor; "
                    f"save the object, then use `await obj.{key}.add(...)` / `.set(...)`"
                )
            raise TypeError(
                f"{model.__name__}() got an unexpected keyword argument {key!r}; "
                f"its fields are: {', '.join([*fields, *relations])}"
            )
    for rel_name, rel in relations.items():
        if rel_name in kwargs:
            obj = kwargs[rel_name]
            if rel.column_name in kwargs:
                raise TypeError(f"{model.__name__}() got both {rel_name} and {rel.column_name}")
            if obj is None:
                values[rel_name] = None
                values[rel.column_name] = None
            elif rel.target is not None and not isinstance(obj, rel.target):
                errors.append(
                    {"field": rel_name, "value": obj, "message": f"expected a {rel.target.__name__} object"}
                )
            else:
                values[rel_name] = obj
                values[rel.column_name] = obj.__dict__.get(rel.to_field or _single_pk(type(obj)))
    for name, spec in fields.items():
        if name in values:
            continue
        if name in kwargs:
            value = kwargs[name]
        else:
            info = spec.info
            if info.default_factory is not None:
                value = info.default_factory()
            elif info.default is not MISSING:
                value = info.default
            elif spec.auto:
                continue
            elif spec.nullable:
                value = None
            else:
                errors.append({"field": name, "value": None, "message": "this field is required"})
                continue
        try:
            values[name] = spec.coerce(value)
        except (ValueError, TypeError) as exc:
            errors.append({"field": name, "value": value, "message": str(exc)})
    if errors:
        raise ValidationError(model.__name__, errors)
    return values


def _init_function(plan: ModelPlan) -> Callable[..., None] | None:
    """The model's own ``__init__``: ``Model.__init__`` unrolled for its fields, generated once.

    Each field is a keyword-only parameter. For keyword arguments that are all field names it
    does what ``_init_values`` does, field by field in the same order (the same defaults and
    factories, the same coercers, the same errors, all of them), without walking the plan:
    each field's default is a constant of the generated code, and a value whose exact type
    its coercer returns unchanged (``str`` within ``max_length``, ``int``, ...:
    ``passthrough_test``) is stored without calling it. Anything else (positional arguments,
    relation objects, unknown names) goes to ``Model.__init__`` with the same arguments.
    Every other name in the generated code starts with ``_``, which no field name does.
    None (``Model.__init__`` serves) if a field name cannot be a parameter.
    """
    names = list(plan.fields)
    if not all(n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_") for n in names):
        return None
    env: dict[str, Any] = {"_general": Model.__init__, "_absent": object(), "_set": object.__setattr__}
    parameters = "".join(f", {n}=_absent" for n in names)
    given = ", ".join(f"({n!r}, {n})" for n in names)
    lines = [
        f"def __init__(_self, /, *_args{parameters}, **_extra):",
        "    if _args or _extra:",
        f"        _given = {{_n: _v for _n, _v in ({given},) if _v is not _absent}}",
        "        return _general(_self, *_args, **_given, **_extra)",
        "    _values = {}",
        "    _errors = []",
    ]
    for i, (name, spec) in enumerate(plan.fields.items()):
        info = spec.info
        store = _coerce_lines(env, i, spec, name, "_values", always_store=True)
        if info.default_factory is not None:
            env[f"_f{i}"] = info.default_factory
            default = f"{name} = _f{i}()"
        elif info.default is not MISSING:
            env[f"_d{i}"] = info.default
            default = f"{name} = _d{i}"
        elif spec.auto:
            lines += [f"    if {name} is not _absent:", *_indent(store, 2)]
            continue
        elif spec.nullable:
            default = f"{name} = None"
        else:
            required = {"field": name, "value": None, "message": "this field is required"}
            lines += [f"    if {name} is _absent:", f"        _errors.append({required!r})", "    else:", *_indent(store, 2)]
            continue
        lines += [f"    if {name} is _absent:", f"        {default}", *_indent(store, 1)]
    lines += [*_raise_errors(env, plan), "    _set(_self, '__dict__', _values)"]
    init = _generated(plan, "__init__", lines, env)
    init.__doc__ = Model.__init__.__doc__
    init.__dict__["__sx_generated__"] = True  # one model's: a subclass gets its own
    return init


def _validator(plan: ModelPlan) -> Callable[[dict[str, Any]], None]:
    """``validate_fields(d)``: ``validate_changes`` of every field ``d`` holds, generated once
    (the same coercers, values stored back, every failure reported), with the coercer called
    only for a value that ``passthrough_test`` does not accept."""
    env: dict[str, Any] = {"_absent": object()}
    lines = ["def validate_fields(_d):", "    _errors = []"]
    for i, (name, spec) in enumerate(plan.fields.items()):
        lines += [f"    _v = _d.get({name!r}, _absent)", "    if _v is not _absent:"]
        lines += _indent(_coerce_lines(env, i, spec, "_v", "_d", always_store=False), 2)
    return _generated(plan, "validate_fields", [*lines, *_raise_errors(env, plan)], env)


def _coerce_lines(
    env: dict[str, Any], i: int, spec: FieldSpec, value: str, target: str, *, always_store: bool
) -> list[str]:
    """Code storing field ``i``'s value (the variable ``value``) coerced into ``target``, a
    failure recorded in ``_errors`` as ``_init_values`` and ``validate_changes`` record it."""
    name = spec.name
    env.update({f"_c{i}": spec.coerce, "_caught": (ValueError, TypeError), "_str": str, "_type": type, "_len": len})
    coerce = [
        "try:",
        f"    {target}[{name!r}] = _c{i}({value})",
        "except _caught as _exc:",
        f"    _errors.append({{'field': {name!r}, 'value': {value}, 'message': _str(_exc)}})",
    ]
    test = passthrough_test(spec.annotation, spec.info, spec.nullable) if spec.relation is None else None
    if test is None:
        return coerce
    template, env[f"_T{i}"], env[f"_N{i}"] = test
    expression = template.format(v=value, T=f"_T{i}", N=f"_N{i}", type="_type", len="_len")
    if not always_store:
        return [f"if not ({expression}):", *_indent(coerce, 1)]
    return [f"if {expression}:", f"    {target}[{name!r}] = {value}", "else:", *_indent(coerce, 1)]


def _raise_errors(env: dict[str, Any], plan: ModelPlan) -> list[str]:
    env["_ValidationError"] = ValidationError
    env["_model_name"] = plan.model.__name__
    return ["    if _errors:", "        raise _ValidationError(_model_name, _errors)"]


def _indent(lines: list[str], levels: int) -> list[str]:
    return [f"{'    ' * levels}{line}" for line in lines]


def _generated(plan: ModelPlan, name: str, lines: list[str], env: dict[str, Any]) -> Callable[..., None]:
    qualname = f"{plan.model.__qualname__}.{name}"
    exec(compile("\n".join(lines), f"<sqlmodelx {qualname}>", "exec"), env)  # noqa: S102
    function: Callable[..., None] = env[name]
    function.__qualname__ = qualname
    function.__module__ = plan.model.__module__
    return function


def validate_changes(obj: Model, names: list[str] | tuple[str, ...]) -> None:
    """Re-check the named fields of ``obj`` (before a flush writes them)."""
    plan = type(obj).__sx_plan__
    d = obj.__dict__
    errors = []
    for name in names:
        spec = plan.fields.get(name)
        if spec is None or name not in d:
            continue
        try:
            d[name] = spec.coerce(d[name])
        except (ValueError, TypeError) as exc:
            errors.append({"field": name, "value": d[name], "message": str(exc)})
    if errors:
        raise ValidationError(type(obj).__name__, errors)

