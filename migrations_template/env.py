"""Alembic environment for a sqlmodelx project.

All the work happens in ``sqlmodelx.migrate.run_env``, so upgrading sqlmodelx upgrades this
file's behaviour too. Settings live in alembic.ini (``sqlmodelx_models``,
``sqlalchemy.url``, ...). Hooks can be passed here, for example::

    run_env(include_object=my_include_object, include_schemas=True)
"""

from sqlmodelx.migrate import run_env

run_env()
