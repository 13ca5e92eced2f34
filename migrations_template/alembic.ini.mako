# Alembic configuration for a sqlmodelx project (written by `sqlmodelx init`).

[alembic]
# Where the migration environment (env.py, versions/) lives, relative to this file.
script_location = ${script_location}

# Comma-separated modules to import; every sqlmodelx model (or table) they define is a target.
sqlmodelx_models = ${context.get("sqlmodelx_models", "myapp.models")}

# Optional, comma-separated `module:attribute` references to MetaData objects (or declarative
# bases) to target instead of the default, sqlmodelx's own metadata:
# sqlmodelx_metadata = myapp.db:Base.metadata
# Optional hooks, `module:attribute` references passed to Alembic's context.configure():
# sqlmodelx_include_object = myapp.migrations:include_object
# sqlmodelx_include_name = myapp.migrations:include_name
# sqlmodelx_include_schemas = false

# The database. `alembic -x url=...` and the environment variable SQLMODELX_DATABASE_URL
# take precedence. Plain URLs get the async driver (sqlite -> aiosqlite, postgresql ->
# asyncpg, mysql/mariadb -> aiomysql). Write a literal % as %%.
sqlalchemy.url = ${context.get("sqlalchemy_url", "sqlite:///app.db")}

# sys.path entries prepended before env.py runs, so the modules above can be imported.
prepend_sys_path = .
path_separator = os

# Template for revision file names; the default is %%(rev)s_%%(slug)s
# file_template = %%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s

# Time zone for the date inside revision files and their names (needs alembic[tz]).
# timezone =


[post_write_hooks]
# Format new revision files, e.g. with ruff:
# hooks = ruff
# ruff.type = module
# ruff.module = ruff
# ruff.options = format REVISION_SCRIPT_FILENAME


[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
