"""Schema migrations (Alembic) for the storage and user databases.

The two databases have separate histories and version tables
(``alembic_version_storage``, ``alembic_version_users``) so that they can live
in one database (the embedded default) or apart (storage nodes and a central
user database).
"""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from syncstorage.infra.dbengine import WRITE, create_engine
from syncstorage.storage.sql import read_shard_count

HISTORIES = {"storage": "alembic_version_storage", "users": "alembic_version_users"}


def migrations_dir() -> Path:
    """The Alembic tree: top-level migrations/ in a checkout, else the installed copy."""
    package = Path(__file__).resolve().parents[1]  # syncstorage/
    for candidate in (package.parent / "migrations", package / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("cannot find the migrations directory")


def alembic_config(history: str, connection: sa.Connection, **attributes) -> Config:
    root = migrations_dir()
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(root / history))
    cfg.attributes.update(connection=connection, version_table=HISTORIES[history], **attributes)
    return cfg


def current_revision(engine: sa.engine.Engine, history: str) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": HISTORIES[history]}).get_current_revision()


def head_revision(history: str) -> str:
    with sa.create_engine("sqlite://").connect() as conn:
        return ScriptDirectory.from_config(alembic_config(history, conn)).get_current_head()


def upgrade(engine: sa.engine.Engine, history: str, **attributes) -> None:
    """Bring ``engine``'s database to the head of ``history``.

    On SQLite the whole upgrade holds the write lock (BEGIN IMMEDIATE), so
    workers starting together migrate one after the other.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE: True})
        with conn.begin():
            command.upgrade(alembic_config(history, conn, **attributes), "heads")


def migrate(settings, log=print) -> None:
    """Migrate the databases this server's role uses: the storage database
    (storage nodes) and the user database (user-API servers); both by default."""
    if settings.node.role != "users":
        _migrate_storage(settings, log)
    if settings.node.role != "storage":
        _migrate_users(settings, log)


def _migrate_storage(settings, log) -> None:
    storage_engine = create_engine(settings.storage.sqluri, read_timeout=None)  # DDL may take long
    _ensure_sqlite_dir(settings.storage.sqluri)
    try:
        upgrade(storage_engine, "storage", shards=settings.storage.shards)
        log(f"storage database at {current_revision(storage_engine, 'storage')}: {storage_engine.url!r}")
        recorded = read_shard_count(storage_engine)
        if recorded != settings.storage.shards:
            log(f"note: the database keeps its {recorded} shards; [storage] shards = {settings.storage.shards} "
                "only applies to a new database")
    finally:
        storage_engine.dispose()


def _migrate_users(settings, log) -> None:
    users_engine = create_engine(settings.users.sqluri, read_timeout=None)
    _ensure_sqlite_dir(settings.users.sqluri)
    try:
        upgrade(users_engine, "users")
        log(f"user database at {current_revision(users_engine, 'users')}: {users_engine.url!r}")
    finally:
        users_engine.dispose()


def is_embedded(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "sqlite"


def migrate_embedded(settings) -> None:
    """The embedded default migrates its SQLite file(s) on start; MySQL never is
    (schema changes there are an operator's step: `syncstorage migrate`)."""
    if is_embedded(settings.storage.sqluri) and is_embedded(settings.users.sqluri):
        migrate(settings, log=lambda _msg: None)


def _ensure_sqlite_dir(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
