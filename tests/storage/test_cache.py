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
