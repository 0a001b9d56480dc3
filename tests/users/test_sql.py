"""The user store contract on SQLite and MariaDB."""
import pytest

from syncstorage.infra.dbengine import create_engine
from syncstorage.users.sql import UserDB
from syncstorage.users.testing import UserStoreContract


@pytest.fixture
def userdb(backend_url):
    engine = create_engine(backend_url)
    yield UserDB(engine)
    engine.dispose()


class TestUserDB(UserStoreContract):
    pass
