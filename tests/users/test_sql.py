import threading

import pytest

from syncstorage.dbengine import create_engine
from syncstorage.users.sql import UserDB, UserExists

from ..conftest import new_username


@pytest.fixture
def userdb(backend_url):
    engine = create_engine(backend_url)
    yield UserDB(engine)
    engine.dispose()


def test_create_read_update_delete(userdb):
    name = new_username()
    user = userdb.create_user(name, "a@example.com", "{SSCRYPT}x")
    assert (user.username, user.email, user.password_hash, user.active) == (name, "a@example.com", "{SSCRYPT}x", True)
    userdb.set_email(user, "b@example.com")
    userdb.set_reset_code(user, "hash", 123)
    assert userdb.get_user(name).reset_code_hash == "hash"
    userdb.set_password(user, "{SSCRYPT}y")
    changed = userdb.get_user(name)
    assert (changed.email, changed.password_hash, changed.reset_code_hash) == ("b@example.com", "{SSCRYPT}y", None)
    assert not userdb.upgrade_password_hash(user, "{SSCRYPT}stale", "{SSCRYPT}z")
    userdb.delete_user(user)
    assert userdb.get_user(name) is None


def test_usernames_are_case_sensitive_and_unique(userdb):
    name = new_username()
    userdb.create_user(name, None, "h")
    with pytest.raises(UserExists):
        userdb.create_user(name, None, "h")
    assert userdb.get_user(name.upper()) is None


def test_concurrent_creation_creates_one_account(userdb):
    name = new_username()
    outcomes = []

    def attempt():
        try:
            outcomes.append(userdb.create_user(name, None, "h").userid)
        except UserExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("exists") == 5
