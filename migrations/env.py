"""Alembic environment: always driven programmatically with an open connection.

:func:`eoharvest.adapters.catalog.migrate.upgrade` passes the connection in
``config.attributes["connection"]``; there is no alembic.ini and no URL here, so the same
migrations run on SpatiaLite and (later) PostGIS.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("eoharvest migrations run only through eoharvest.adapters.catalog.migrate")

context.configure(
    connection=connection,
    target_metadata=None,
    # SQLite cannot ALTER most things: later revisions use batch (copy-and-swap) operations.
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
