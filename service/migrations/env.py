"""Alembic environment: migrations run on the connection that service.db hands over.

Migrations never import the live models: each revision spells its tables with `sa.` types, so it means
the same thing whatever the models later become. Only `alembic revision --autogenerate` compares against
the models, and only then are they imported.
"""

from typing import Any

from alembic import context


def _target_metadata() -> Any:
    options = context.config.cmd_opts
    if getattr(options, "autogenerate", False) or context.config.attributes.get("autogenerate"):
        from service.models import Base

        return Base.metadata
    return None


connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=_target_metadata(),
    render_as_batch=connection is not None and connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
