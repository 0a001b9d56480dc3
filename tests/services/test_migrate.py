"""The Alembic histories build exactly the tables the code uses."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syncstorage.infra.dbengine import create_engine
from syncstorage.services.migrate import current_revision, head_revision, migrate
from syncstorage.infra.config import load_settings
from syncstorage.storage.schema import StorageSchema
from syncstorage.users.nodes import nodes_table
from syncstorage.users.sql import users_table

from ..conftest import SHARDS


def _diff(engine, metadata):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))]


def test_migrated_database_matches_the_code(backend_url):
    engine = create_engine(backend_url)
    try:
        metadata = StorageSchema(SHARDS).metadata
        users_table(metadata)
        nodes_table(metadata)
        assert _diff(engine, metadata) == []
        assert current_revision(engine, "storage") == head_revision("storage")
        assert current_revision(engine, "users") == head_revision("users")
    finally:
        engine.dispose()


def test_migrate_is_idempotent_and_keeps_the_shard_count(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(load_settings(overrides={"storage.sqluri": url, "storage.shards": 4}, environ={}), log=lambda m: None)
    migrate(load_settings(overrides={"storage.sqluri": url, "storage.shards": 9}, environ={}), log=lambda m: None)
    engine = create_engine(url)
    names = sa.inspect(engine).get_table_names()
    assert sorted(n for n in names if n.startswith("wbo")) == ["wbo0", "wbo1", "wbo2", "wbo3"]
    engine.dispose()


def test_separate_user_database(tmp_path):
    storage_url, users_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'u.db'}"
    migrate(load_settings(overrides={"storage.sqluri": storage_url, "users.sqluri": users_url}, environ={}),
            log=lambda m: None)
    storage_tables = sa.inspect(create_engine(storage_url)).get_table_names()
    user_tables = sa.inspect(create_engine(users_url)).get_table_names()
    assert "wbo0" in storage_tables and "users" not in storage_tables
    assert "users" in user_tables and "wbo0" not in user_tables
