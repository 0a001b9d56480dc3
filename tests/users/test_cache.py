"""The user store contract on the memcached front (SQLite and MariaDB behind it)."""
import uuid

import pytest
import sqlalchemy as sa

from syncstorage.infra.dbengine import create_engine
from syncstorage.infra.memcache import CacheClient, CoherentCache
from syncstorage.users.cache import CachedUserDB
from syncstorage.users.sql import UserDB
from syncstorage.users.testing import UserStoreContract


@pytest.fixture
def userdb(backend_url, memcached):
    engine = create_engine(backend_url)
    client = CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:")
    yield CachedUserDB(UserDB(engine), CoherentCache(client))
    engine.dispose()


class TestCachedUserDB(UserStoreContract):
    def test_reads_are_answered_from_memcached(self, userdb):
        user = userdb.create_user(f"u{uuid.uuid4().hex[:20]}", None, "h")
        userdb.get_user(user.username)  # fills the entry
        statements = []
        sa.event.listen(userdb.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        assert userdb.get_user(user.username) == user
        assert statements == []
