"""Alembic environment: migrations run on the connection the caller passes in
(``surmesure.db.upgrade``); ``target_metadata`` is only needed for autogenerate."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
target_metadata = context.config.attributes.get("target_metadata")

if connection is None:
    raise RuntimeError("run migrations through surmesure.db.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
