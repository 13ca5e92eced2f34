"""Alembic glue (L6): ``sqlmodelx init``, the body of every project's env.py, and the guard.

A project made by ``sqlmodelx init`` has an ``env.py`` that only calls :func:`run_env`, so
a fix here reaches every existing project with a library upgrade. The pieces:

- :func:`init_project` copies the packaged template (``sqlmodelx.migrations_template``) and
  writes ``alembic.ini`` with the database URL and the models modules.
- :func:`run_env` imports the models modules named in ``alembic.ini``, targets their
  metadata, and runs Alembic online (on the async engine) or offline (``--sql``), with
  batch mode on SQLite and type / server default comparison on.
- :func:`render_item` writes column types that live outside SQLAlchemy (sqlmodelx's
  ``TypeDecorator`` s, a user's own) as ``module.Type(...)`` *with* ``import module``, and
  PostgreSQL JSON types with their nested ``sa.Text()`` prefixed; Alembic's default
  rendering of both fails with ``NameError`` when the revision runs.
- :func:`process_revision_directives` marks revisions that lose data, brackets
  operations on PostgreSQL enum types with ``op.create_enum_type`` /
  ``op.drop_enum_type`` (Alembic leaves a dropped table's type behind, and
  ``add_column`` of a new enum fails because nothing creates the type), and removes what
  would not run (``Table.info`` reprs, index drops inside a dropped table).
- The data-loss guard: :func:`run_env` checks every revision an upgrade will run *before*
  the first one runs, and stops, naming them, if one is marked and not opted in.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from logging.config import fileConfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations
from alembic.operations import ops as alembic_ops
from alembic.util import CommandError, template_to_file
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from .database import async_url
from .exc import SqlModelXError
from .model import Model

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext, MigrationStep

__all__ = [
    "init_project",
    "run_env",
    "render_item",
    "process_revision_directives",
    "compare_server_default",
    "template_directory",
    "CreateEnumTypeOp",
    "DropEnumTypeOp",
]

TEMPLATE_PACKAGE = "sqlmodelx.migrations_template"
URL_ENV_VAR = "SQLMODELX_DATABASE_URL"
DEFAULT_URL = "sqlite:///app.db"
DEFAULT_MODELS = "myapp.models"
_NOT_COPIED = {"__init__.py", "alembic.ini.mako"}


# --------------------------------------------------------------------------- sqlmodelx init


def template_directory() -> Path:
    """The packaged template, a real directory both in a wheel and in an editable install."""
    return Path(str(files(TEMPLATE_PACKAGE)))


def init_project(
    directory: str | os.PathLike[str] = "migrations",
    *,
    url: str | None = None,
    models: str | None = None,
    config_file: str | os.PathLike[str] = "alembic.ini",
) -> int:
    """Write ``alembic.ini`` and ``DIRECTORY/{env.py,script.py.mako,README,versions/}``.

    Returns the command's exit status. Refuses (status 1, nothing written) when the
    directory exists and is not empty, or when the config file exists: a project is never
    half overwritten. ``url`` and ``models`` fill ``sqlalchemy.url`` and
    ``sqlmodelx_models``.
    """
    target = Path(directory)
    ini = Path(config_file)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        return _refuse(f"{target} already exists and is not empty")
    if ini.exists():
        return _refuse(f"{ini} already exists")

    (target / "versions").mkdir(parents=True, exist_ok=True)
    for item in template_directory().iterdir():
        if item.is_file() and item.name not in _NOT_COPIED:
            shutil.copyfile(item, target / item.name)
    template_to_file(
        template_directory() / "alembic.ini.mako",
        ini,
        "utf-8",
        script_location=_script_location(target, ini),
        sqlalchemy_url=(url or DEFAULT_URL).replace("%", "%%"),
        sqlmodelx_models=models or DEFAULT_MODELS,
    )
    print(f"Created {target}/ (env.py, script.py.mako, versions/) and {ini}.")
    if models is None:
        print(f"Next: set sqlmodelx_models in {ini} to the modules that define your models.")
    print('Then: alembic revision --autogenerate -m "initial" && alembic upgrade head')
    return 0


def _refuse(reason: str) -> int:
    print(f"sqlmodelx init: {reason}; nothing was written.", file=sys.stderr)
    return 1


def _script_location(target: Path, ini: Path) -> str:
    """``%(here)s/...`` relative to the ini file, as ``alembic init`` writes it."""
    if target.is_absolute():
        return target.as_posix()
    relative = os.path.relpath(target.absolute(), ini.absolute().parent)
    return "%(here)s/" + Path(relative).as_posix()


# --------------------------------------------------------------------------- env.py


def run_env(
    *,
    target_metadata: sa.MetaData | Sequence[sa.MetaData] | None = None,
    **configure_options: Any,
) -> None:
    """The body of a sqlmodelx project's ``env.py``.

    ``target_metadata`` overrides the metadata found from ``alembic.ini``; every other
    keyword goes to Alembic's ``context.configure()`` over sqlmodelx's defaults, and the
    ``render_item`` / ``process_revision_directives`` hooks given here run *before*
    sqlmodelx's own. A sync ``Connection`` in ``config.attributes["connection"]`` is used
    as is (programmatic use from code that already has one).
    """
    context = _environment()
    config = context.config
    if config.config_file_name is not None and config.file_config.has_section("loggers"):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    _import_models(config.get_main_option("sqlmodelx_models", ""))
    metadata = target_metadata if target_metadata is not None else _target_metadata(config)
    options = _configure_options(context, metadata, configure_options)

    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        url = database_url(context)
        context.configure(
            url=url,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **_for_dialect(options, url.get_backend_name()),
        )
        _run_migrations(context)
    elif connection is not None:
        _run_on_connection(connection, options)
    else:
        asyncio.run(_run_online(database_url(context), options))


def database_url(context: EnvironmentContext) -> sa.URL:
    """``-x url=...``, else ``$SQLMODELX_DATABASE_URL``, else alembic.ini, with an async driver."""
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get(URL_ENV_VAR)
        or context.config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise CommandError(
            "no database URL: set sqlalchemy.url in alembic.ini, the environment variable "
            f"{URL_ENV_VAR}, or pass `alembic -x url=...`"
        )
    try:
        return async_url(url)
    except SqlModelXError as exc:
        raise CommandError(str(exc)) from exc


async def _run_online(url: sa.URL, options: dict[str, Any]) -> None:
    # A plain engine, not sx.Database's: its SQLite hook turns on PRAGMA foreign_keys, and
    # batch mode's "copy table, drop old, rename" would then cascade deletes to child rows.
    engine = create_async_engine(url, poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on_connection, options)
    finally:
        await engine.dispose()


def _environment() -> EnvironmentContext:
    """The ``EnvironmentContext`` that alembic's module-level ``context`` proxies to.

    sqlmodelx needs the object itself for ``context_opts["fn"]``, the function that plans
    the steps of the running command, which the data-loss guard wraps.
    """
    from alembic import context

    environment: EnvironmentContext = context._proxy  # type: ignore[attr-defined]
    return environment


def _run_on_connection(connection: Connection, options: dict[str, Any]) -> None:
    context = _environment()
    context.configure(connection=connection, **_for_dialect(options, connection.dialect.name))
    _run_migrations(context)


def _run_migrations(context: EnvironmentContext) -> None:
    """Plan (and guard) the command's steps, then let Alembic run them.

    Alembic itself plans only after creating ``alembic_version`` on a fresh database,
    which MySQL and SQLite cannot roll back; planning first keeps a refused upgrade from
    writing anything.
    """
    migration_context = context.get_context()
    planner = migration_context.opts.get("fn")
    if isinstance(planner, _GuardedPlanner):
        planner(migration_context.get_current_heads(), migration_context)
    with context.begin_transaction():
        context.run_migrations()


def _for_dialect(options: dict[str, Any], dialect_name: str) -> dict[str, Any]:
    return {"render_as_batch": dialect_name == "sqlite", **options}


def _configure_options(
    context: EnvironmentContext,
    metadata: sa.MetaData | Sequence[sa.MetaData],
    user: dict[str, Any],
) -> dict[str, Any]:
    config = context.config
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "compare_type": True,
        "compare_server_default": compare_server_default,
    }
    for hook in ("include_object", "include_name"):
        reference = config.get_main_option(f"sqlmodelx_{hook}")
        if reference:
            options[hook] = _resolve(reference, f"sqlmodelx_{hook}")
    schemas = config.get_main_option("sqlmodelx_include_schemas")
    if schemas:
        options["include_schemas"] = _as_bool(schemas)
    render_hook = user.pop("render_item", None)
    revision_hook = user.pop("process_revision_directives", None)
    options.update(user)
    options["render_item"] = _chain_render(render_hook)
    options["process_revision_directives"] = _chain_directives(revision_hook)
    migrations_fn = context.context_opts.get("fn")
    if migrations_fn is not None:
        allow = _as_bool(context.get_x_argument(as_dictionary=True).get("allow_data_loss", ""))
        options["fn"] = _GuardedPlanner(migrations_fn, allow)
    return options


def _as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _import_models(setting: str) -> None:
    for name in _split(setting):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise
            raise CommandError(
                f"sqlmodelx_models in alembic.ini names {name!r}, which cannot be imported "
                f"({exc}); set it to the comma-separated modules that define your models "
                f"(the directory of alembic.ini is on sys.path)"
            ) from exc


def _split(setting: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", setting) if part.strip()]


def _resolve(reference: str, key: str) -> Any:
    """``package.module:attr.path`` -> the object it names."""
    module_name, _, path = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for attr in filter(None, path.split(".")):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise CommandError(f"{key} = {reference}: {exc}") from exc
    return obj


def _target_metadata(config: Any) -> list[sa.MetaData]:
    """``sqlmodelx_metadata`` references, else every MetaData holding a sqlmodelx model."""
    references = _split(config.get_main_option("sqlmodelx_metadata", ""))
    if references:
        found = [_resolve(ref, "sqlmodelx_metadata") for ref in references]
        return [getattr(obj, "metadata", obj) for obj in found]
    result = [Model.metadata]
    for model in _subclasses(Model):
        table = model.__dict__.get("__table__")
        if table is not None and all(table.metadata is not m for m in result):
            result.append(table.metadata)
    return result


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def compare_server_default(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Numeric defaults compare by value (MariaDB reflects ``'0'`` on DECIMAL(5,2) as ``0.00``).

    ``None`` leaves every other comparison to Alembic.
    """
    inspected, declared = _number(inspected_default), _number(rendered_metadata_default)
    if inspected is None or declared is None:
        return None
    return inspected != declared


def _number(sql: str | None) -> Decimal | None:
    """The value of a numeric literal such as ``0``, ``'0.00'`` or ``('0'::numeric)``."""
    if sql is None:
        return None
    text = sql.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = text.split("::")[0].strip("'\"")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


# --------------------------------------------------------------------------- rendering


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render types Alembic would write without their imports; ``False`` means "default".

    A type defined outside SQLAlchemy renders as ``module.Type(...)`` and adds
    ``import module``. A PostgreSQL JSON/JSONB type renders its ``astext_type`` as
    ``sa.Text()`` (Alembic writes a bare ``Text()`` when autogenerating on another backend).
    """
    if type_ != "type":
        return False
    module = type(obj).__module__
    if module.startswith("sqlalchemy.dialects.") and hasattr(obj, "astext_type"):
        dialect = module.split(".")[2]
        autogen_context.imports.add(f"from sqlalchemy.dialects import {dialect}")
        return f"{dialect}." + re.sub(r"astext_type=(\w)", r"astext_type=sa.\1", repr(obj))
    if module.startswith("sqlalchemy") or module == "builtins":
        return False
    autogen_context.imports.add(f"import {module}")
    return f"{module}.{obj!r}"


def _chain_render(user_hook: Callable[..., Any] | None) -> Callable[..., Any]:
    if user_hook is None:
        return render_item

    def chained(type_: str, obj: Any, autogen_context: AutogenContext) -> Any:
        rendered = user_hook(type_, obj, autogen_context)
        if rendered is not False:
            return rendered
        return render_item(type_, obj, autogen_context)

    return chained


# --------------------------------------------------------------------------- revisions


def process_revision_directives(
    context: MigrationContext, revision: Any, directives: list[Any]
) -> None:
    """Mark data loss in new revisions and manage PostgreSQL enum types around their ops."""
    for script in directives:
        if not isinstance(script, alembic_ops.MigrationScript):
            continue
        for ops in (*script.upgrade_ops_list, *script.downgrade_ops_list):
            _skip_drops_inside_dropped_tables(ops)
            _bracket_enum_types(ops)
            _drop_unrenderable_info(ops)
        losses = [loss for ops in script.upgrade_ops_list for loss in data_loss(ops, context)]
        template_args = context.opts.get("template_args")
        if template_args is not None:
            template_args["data_loss"] = losses


def _chain_directives(user_hook: Callable[..., Any] | None) -> Callable[..., Any]:
    if user_hook is None:
        return process_revision_directives

    def chained(context: MigrationContext, revision: Any, directives: list[Any]) -> None:
        user_hook(context, revision, directives)
        process_revision_directives(context, revision, directives)

    return chained


def _walk(ops: Iterable[Any]) -> Iterator[Any]:
    for op in ops:
        if isinstance(op, alembic_ops.OpContainer):
            yield from _walk(op.ops)
        else:
            yield op


def _skip_drops_inside_dropped_tables(container: alembic_ops.OpContainer) -> None:
    """Remove ``drop_index`` / ``drop_constraint`` of a table the same ops drop.

    ``DROP TABLE`` removes them anyway, and MySQL/MariaDB refuse to drop an index that a
    foreign key still needs (error 1553), so Alembic's autogenerated downgrade of a new
    table with a foreign key fails there.
    """
    dropped = {
        (op.schema, op.table_name)
        for op in container.ops
        if isinstance(op, alembic_ops.DropTableOp)
    }
    if not dropped:
        return
    redundant = (alembic_ops.DropIndexOp, alembic_ops.DropConstraintOp)
    kept = []
    for op in container.ops:
        if isinstance(op, alembic_ops.ModifyTableOps) and (op.schema, op.table_name) in dropped:
            op.ops = [inner for inner in op.ops if not isinstance(inner, redundant)]
            if not op.ops:
                continue
        elif isinstance(op, redundant) and (op.schema, op.table_name) in dropped:
            continue
        kept.append(op)
    container.ops = kept


def _drop_unrenderable_info(container: alembic_ops.OpContainer) -> None:
    """Keep only ``Table.info`` entries that render as Python literals.

    sqlmodelx records the model class in ``Table.info``; Alembic would write its repr,
    ``<model myapp.Author>``, into ``op.create_table(..., info=...)``: a syntax error.
    """
    for op in _walk(container.ops):
        if isinstance(op, alembic_ops.CreateTableOp) and op.info:
            op.info = {k: v for k, v in op.info.items() if _is_literal(v)}


def _is_literal(value: Any) -> bool:
    try:
        ast.literal_eval(repr(value))
    except (ValueError, SyntaxError):
        return False
    return True


def data_loss(ops: alembic_ops.OpContainer, context: MigrationContext) -> list[str]:
    """Each operation in ``ops`` that destroys data, described for a human."""
    dialect = context.dialect
    found = []
    for op in _walk(ops.ops):
        if isinstance(op, alembic_ops.DropTableOp):
            found.append(f"drop table {_qualified(op.schema, op.table_name)}")
        elif isinstance(op, alembic_ops.DropColumnOp):
            found.append(f"drop column {_qualified(op.schema, op.table_name)}.{op.column_name}")
        elif (
            isinstance(op, alembic_ops.AlterColumnOp)
            and op.modify_type is not None
            and op.existing_type is not None
            and narrows(op.existing_type, op.modify_type)
        ):
            found.append(
                f"narrow column {_qualified(op.schema, op.table_name)}.{op.column_name}: "
                f"{_type_name(op.existing_type, dialect)} -> {_type_name(op.modify_type, dialect)}"
            )
    return found


def _qualified(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _type_name(type_: Any, dialect: Any) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except sa.exc.SQLAlchemyError:
        return repr(type_)


_INTEGER_BYTES = {"TINYINT": 1, "SMALLINT": 2, "MEDIUMINT": 3, "BIGINT": 8}
_FAMILIES = (sa.String, sa.Integer, sa.Numeric, sa.Float, sa.DateTime, sa.Date, sa.Time)


def narrows(old: Any, new: Any) -> bool:
    """Whether changing a column from ``old`` to ``new`` can lose or reject existing values.

    Conservative: a change to another kind of type counts as narrowing; so do a shorter
    string, fewer enum values, a smaller integer, and fewer numeric digits.
    """
    old, new = _base_type(old), _base_type(new)
    if _family(old) is not _family(new):
        return True
    if isinstance(new, sa.Enum):
        return not isinstance(old, sa.Enum) or not set(old.enums) <= set(new.enums)
    if isinstance(old, sa.String):
        return _less(new.length, old.length)
    if isinstance(old, sa.Integer):
        return _integer_bytes(new) < _integer_bytes(old)
    if isinstance(old, sa.Numeric):
        return _less(new.precision, old.precision) or _less(new.scale, old.scale)
    return False


def _family(type_: Any) -> Any:
    """The kind of a type; enums (PostgreSQL's ``ENUM`` too) are strings."""
    return next((f for f in _FAMILIES if isinstance(type_, f)), type_._type_affinity)


def _base_type(type_: Any) -> Any:
    return type_.impl_instance if isinstance(type_, sa.TypeDecorator) else type_


def _less(new: int | None, old: int | None) -> bool:
    """``new`` bounds tighter than ``old`` (``None`` is unbounded)."""
    return new is not None and (old is None or new < old)


def _integer_bytes(type_: Any) -> int:
    """Storage size of an integer type, MySQL's TINYINT and MEDIUMINT included."""
    by_name = _INTEGER_BYTES.get(type(type_).__name__.upper())
    if by_name is not None:
        return by_name
    if isinstance(type_, sa.BigInteger):
        return 8
    return 2 if isinstance(type_, sa.SmallInteger) else 4


# --------------------------------------------------------------------------- PG enum types


def _named_enum(type_: Any) -> sa.Enum | None:
    type_ = _base_type(type_)
    if isinstance(type_, sa.Enum) and type_.native_enum and type_.name:
        return type_
    return None


def _enums_used(op: Any) -> tuple[list[sa.Enum], list[sa.Enum]]:
    """(enum types ``op`` needs to exist, enum types it may leave unused)."""
    if isinstance(op, alembic_ops.CreateTableOp):
        return [e for c in op.columns if (e := _named_enum(getattr(c, "type", None)))], []
    if isinstance(op, alembic_ops.DropTableOp):
        table = op.to_table()
        return [], [e for c in table.columns if (e := _named_enum(c.type))]
    if isinstance(op, alembic_ops.AddColumnOp):
        return [e for e in [_named_enum(op.column.type)] if e], []
    if isinstance(op, alembic_ops.DropColumnOp):
        return [], [e for e in [_named_enum(op.to_column().type)] if e]
    if isinstance(op, alembic_ops.AlterColumnOp) and op.modify_type is not None:
        new, old = _named_enum(op.modify_type), _named_enum(op.existing_type)
        return [e for e in [new] if e], [e for e in [old] if e]
    return [], []


def _bracket_enum_types(container: alembic_ops.OpContainer) -> None:
    """Create the enum types a list of ops needs first; drop the ones it frees last."""
    needed: dict[tuple[str | None, str], sa.Enum] = {}
    freed: dict[tuple[str | None, str], sa.Enum] = {}
    for op in _walk(container.ops):
        uses, frees = _enums_used(op)
        for enum in uses:
            needed.setdefault((enum.schema, str(enum.name)), enum)
        for enum in frees:
            freed.setdefault((enum.schema, str(enum.name)), enum)
    creates = [CreateEnumTypeOp(n, list(e.enums), schema=s) for (s, n), e in needed.items()]
    drops = [DropEnumTypeOp(n, schema=s) for (s, n) in freed if (s, n) not in needed]
    container.ops[:0] = creates
    container.ops.extend(drops)


@Operations.register_operation("create_enum_type")
class CreateEnumTypeOp(MigrateOperation):
    """``op.create_enum_type(name, values)``: create a PostgreSQL enum type if it is missing.

    A no-op on other backends, so revision files stay portable. Online it checks the
    catalog first; offline (``--sql``) it prints ``CREATE TYPE``. Either way a following
    ``op.create_table`` does not create the type a second time.
    """

    def __init__(self, name: str, values: Sequence[str], *, schema: str | None = None) -> None:
        self.name, self.values, self.schema = name, list(values), schema

    @classmethod
    def create_enum_type(
        cls,
        operations: Operations,
        name: str,
        values: Sequence[str],
        *,
        schema: str | None = None,
    ) -> None:
        operations.invoke(cls(name, values, schema=schema))

    def reverse(self) -> DropEnumTypeOp:
        return DropEnumTypeOp(self.name, schema=self.schema)


@Operations.register_operation("drop_enum_type")
class DropEnumTypeOp(MigrateOperation):
    """``op.drop_enum_type(name)``: drop a PostgreSQL enum type unless a column still uses it.

    A no-op on other backends. Runs as a ``DO`` block, so it works offline as well.
    """

    def __init__(self, name: str, *, schema: str | None = None) -> None:
        self.name, self.schema = name, schema

    @classmethod
    def drop_enum_type(
        cls, operations: Operations, name: str, *, schema: str | None = None
    ) -> None:
        operations.invoke(cls(name, schema=schema))


def _pg_enum_memo(operations: Operations) -> set[tuple[str | None, str]]:
    """SQLAlchemy's record of the enum types created in this DDL run (``impl.memo``)."""
    memo: set[tuple[str | None, str]] = operations.get_context().impl.memo.setdefault(
        "pg_enum", set()
    )
    return memo


@Operations.implementation_for(CreateEnumTypeOp)
def _create_enum_type(operations: Operations, operation: CreateEnumTypeOp) -> None:
    context = operations.get_context()
    if context.dialect.name != "postgresql":
        return
    enum = postgresql.ENUM(*operation.values, name=operation.name, schema=operation.schema)
    enum.create(operations.get_bind(), checkfirst=not context.as_sql)
    _pg_enum_memo(operations).add((operation.schema, operation.name))


@Operations.implementation_for(DropEnumTypeOp)
def _drop_enum_type(operations: Operations, operation: DropEnumTypeOp) -> None:
    context = operations.get_context()
    if context.dialect.name != "postgresql":
        return
    enum = postgresql.ENUM(name=operation.name, schema=operation.schema)
    preparer: Any = context.dialect.identifier_preparer  # PostgreSQL's has format_type
    name = preparer.format_type(enum)
    operations.execute(
        sa.text(
            f"DO $$ BEGIN DROP TYPE IF EXISTS {name}; "
            "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$"
        )
    )
    _pg_enum_memo(operations).discard((operation.schema, operation.name))


_ENUM_OPS_IMPORT = "import sqlmodelx.migrate  # registers op.create_enum_type, op.drop_enum_type"


def _schema_kw(schema: str | None) -> str:
    return f", schema={schema!r}" if schema else ""


@renderers.dispatch_for(CreateEnumTypeOp)
def _render_create_enum_type(autogen_context: AutogenContext, op: CreateEnumTypeOp) -> str:
    autogen_context.imports.add(_ENUM_OPS_IMPORT)
    return f"op.create_enum_type({op.name!r}, {op.values!r}{_schema_kw(op.schema)})"


@renderers.dispatch_for(DropEnumTypeOp)
def _render_drop_enum_type(autogen_context: AutogenContext, op: DropEnumTypeOp) -> str:
    autogen_context.imports.add(_ENUM_OPS_IMPORT)
    return f"op.drop_enum_type({op.name!r}{_schema_kw(op.schema)})"


# --------------------------------------------------------------------------- the guard


class _GuardedPlanner:
    """Alembic's step planner for the running command, refusing upgrades that lose data.

    It plans once per set of heads: :func:`_run_migrations` calls it before Alembic does,
    and Alembic's own call gets the same steps (a planner may print, as ``current`` does).
    """

    def __init__(self, plan: Callable[..., Iterable[MigrationStep]], allow: bool) -> None:
        self.plan, self.allow = plan, allow
        self.planned: tuple[tuple[str, ...], list[MigrationStep]] | None = None

    def __call__(self, heads: Any, migration_context: MigrationContext) -> list[MigrationStep]:
        key = tuple(heads)
        if self.planned is None or self.planned[0] != key:
            steps = list(self.plan(heads, migration_context))
            blocked = [] if self.allow else [s for s in steps if _blocks(s)]
            if blocked:
                raise CommandError(_guard_message(blocked))
            self.planned = (key, steps)
        return self.planned[1]


def _blocks(step: Any) -> bool:
    module = getattr(getattr(step, "revision", None), "module", None)
    return bool(
        getattr(step, "is_upgrade", False)
        and getattr(module, "data_loss", None)
        and not getattr(module, "allow_data_loss", False)
    )


def _guard_message(blocked: list[Any]) -> str:
    lines = ["upgrade stopped before changing anything: these revisions lose data"]
    for step in blocked:
        script = step.revision
        lines.append(f"  {script.revision} ({script.doc}) in {script.path}:")
        lines.extend(f"    - {loss}" for loss in script.module.data_loss)
    lines.append(
        "Review them, then set `allow_data_loss = True` in each file, "
        "or run `alembic -x allow_data_loss=true upgrade ...`."
    )
    return "\n".join(lines)
