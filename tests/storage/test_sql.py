"""The backend contract on SQLite and MariaDB, plus SQL-specific behaviour."""
import pytest
import sqlalchemy as sa

from syncstorage.infra.dbengine import BackendError, create_engine
from syncstorage.storage.schema import shard_for
from syncstorage.storage.sql import SQLStorage, read_shard_count
from syncstorage.storage.testing import T0, StorageContract, new_userid
from syncstorage.wire.wbo import WBO

from ..conftest import SHARDS


@pytest.fixture
def storage(backend_url):
    engine = create_engine(backend_url)
    yield SQLStorage(engine)
    engine.dispose()


class TestSQLStorage(StorageContract):
    pass


def test_shard_count_is_read_from_the_database(storage):
    assert storage.shards == SHARDS == read_shard_count(storage.engine)


def test_rows_land_in_the_routed_shard(storage):
    uid = new_userid()
    storage.set_items(uid, "c", [WBO("a", "x")], T0)
    with storage.engine.connect() as conn:
        counts = [conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.userid == uid)).scalar()
                  for t in storage.schema.wbo]
    assert counts == [1 if n == shard_for(uid, SHARDS) else 0 for n in range(SHARDS)]


def test_custom_collections_are_numbered_from_100(storage):
    storage.set_items(new_userid(), "my-own-collection", [WBO("a", "x")], T0)
    assert storage._collection_id("my-own-collection", create=False) >= 100
    assert storage._collection_id("bookmarks", create=False) == 7


def test_unmigrated_database_is_a_backend_error(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(BackendError):
        SQLStorage(engine)


def test_unreachable_database_is_a_backend_error():
    engine = create_engine("mysql+pymysql://nobody:x@127.0.0.1:1/none", pool_timeout=1)
    storage = SQLStorage(engine, shards=1)
    with pytest.raises(BackendError):
        storage.get_collection_timestamps(1)


def test_a_write_to_an_existing_collection_is_three_statements(storage):
    """Lock with the existing records, upsert, update the totals: the write path's budget."""
    uid = new_userid()
    storage.set_items(uid, "history", [WBO("a", "x"), WBO("b", "y")], T0)
    statements = []
    sa.event.listen(storage.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, *rest: statements.append(sql.split()[0].upper()))
    storage.set_items(uid, "history", [WBO("b", "yy"), WBO("c", "z")], T0 + 1)
    assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == ["SELECT", "INSERT", "UPDATE"]
    assert storage.get_collection_counts(uid, T0 + 1) == {"history": 3}
    assert storage.get_total_size(uid, T0 + 1) == 4
