"""The backend contract on the memcached-fronted store, over SQLite and MariaDB."""
import uuid

import pytest

from syncstorage.infra.dbengine import create_engine
from syncstorage.infra.memcache import CacheClient, CoherentCache
from syncstorage.storage.cache import CachedStorage
from syncstorage.storage.sql import SQLStorage
from syncstorage.storage.testing import StorageContract


@pytest.fixture
def storage(backend_url, memcached):
    engine = create_engine(backend_url)
    cache = CoherentCache(CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:"))
    yield CachedStorage(SQLStorage(engine), cache)
    engine.dispose()


class TestCachedStorage(StorageContract):
    pass


def test_the_entry_agrees_with_the_database_after_concurrent_writers_and_readers(storage):
    """Writers on several collections of one user, overlapping one another, and readers
    filling the entry meanwhile: once they are done, the cached totals are the database's."""
    import random
    import threading

    from syncstorage.storage.base import ItemQuery
    from syncstorage.wire.wbo import WBO

    userid, t0 = random.randrange(10**6, 10**9), 1_300_000_000_00
    errors = []

    def writer(n):
        rng = random.Random(n)
        try:
            for i in range(12):
                collection = rng.choice(["bookmarks", "history", "tabs"])
                if rng.random() < 0.2:
                    storage.delete_items(userid, collection, ItemQuery(ids=[f"w{n}-{i - 1}"]), t0 + i)
                else:
                    storage.set_items(userid, collection, [WBO(f"w{n}-{i}", "x" * rng.randrange(1, 50))], t0 + i)
        except Exception as error:  # reported below
            errors.append(error)

    def reader():
        try:
            for _ in range(30):
                storage.get_collection_totals(userid)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + \
        [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert storage.get_collection_totals(userid) == storage.store.get_collection_totals(userid)
    assert storage.get_collection_totals(userid) == storage.store.get_collection_totals(userid)  # now a hit


def test_a_collection_read_the_entry_shows_empty_asks_no_sql(storage):
    """A read of records newer than the collection's last change, or of a collection the user does not
    have: the answer is [] from the entry; a read that can find records asks SQL at once."""
    import sqlalchemy as sa

    from syncstorage.storage.base import ItemQuery
    from syncstorage.wire.wbo import WBO

    userid, t0 = uuid.uuid4().int % 10**9, 1_300_000_000_00
    storage.set_items(userid, "history", [WBO("a", "x")], t0)
    storage.set_items(userid, "history", [WBO("b", "y")], t0 + 5)
    storage.get_collection_totals(userid)  # the entry is filled
    statements = []
    sa.event.listen(storage.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    assert storage.get_items(userid, "history", ItemQuery(newer=t0 + 5), t0 + 9, full=True) == []
    assert storage.get_items(userid, "history", ItemQuery(newer=t0 + 7, older=t0 + 8), t0 + 9, full=False) == []
    assert storage.get_items(userid, "tabs", ItemQuery(newer=0), t0 + 9, full=True) == []
    assert statements == []

    assert storage.get_items(userid, "history", ItemQuery(newer=t0 + 4), t0 + 9, full=False) == ["b"]
    assert sorted(storage.get_items(userid, "history", ItemQuery(), t0 + 9, full=False)) == ["a", "b"]
    assert [s.split()[0] for s in statements if s != "BEGIN"] == ["SELECT", "SELECT"]  # SQLite says BEGIN


def test_a_read_newer_than_another_writer_s_last_change_finds_it(storage, backend_url, memcached):
    """Another process's write (its own CachedStorage on the same database and memcached) is
    what the entry shows next: the read for records newer than the old timestamp finds it."""
    from syncstorage.storage.base import ItemQuery
    from syncstorage.wire.wbo import WBO

    engine = create_engine(backend_url)
    other = CachedStorage(SQLStorage(engine), CoherentCache(CacheClient([memcached.address],
                                                                        prefix=storage.cache.client.prefix)))
    try:
        userid, t0 = uuid.uuid4().int % 10**9, 1_300_000_000_00
        storage.set_items(userid, "tabs", [WBO("a", "x")], t0)
        assert storage.get_items(userid, "tabs", ItemQuery(newer=t0), t0 + 1, full=False) == []
        other.set_items(userid, "tabs", [WBO("b", "y")], t0 + 2)
        assert storage.get_items(userid, "tabs", ItemQuery(newer=t0), t0 + 3, full=False) == ["b"]
        other.delete_items(userid, "tabs", ItemQuery(), t0 + 4)
        other.set_items(userid, "forms", [WBO("c", "z")], t0 + 5)
        assert storage.get_items(userid, "tabs", ItemQuery(newer=t0), t0 + 6, full=False) == []
        assert storage.get_items(userid, "tabs", ItemQuery(), t0 + 6, full=False) == []
        assert storage.get_items(userid, "forms", ItemQuery(newer=t0), t0 + 6, full=False) == ["c"]
    finally:
        engine.dispose()
