"""Alembic environment for syncstorage.

Run through ``syncstorage migrate`` (syncstorage/services/migrate.py), which passes the
open connection, the version table and, for the storage history, the shard
count in ``config.attributes``.
"""
from alembic import context

config = context.config

context.configure(
    connection=config.attributes["connection"],
    version_table=config.attributes["version_table"],
)

with context.begin_transaction():
    context.run_migrations()
