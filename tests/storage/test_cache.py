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
