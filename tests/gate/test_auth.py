"""Basic parsing and the verified-credentials cache (the KDF runs once per credential)."""
import base64

import pytest

from syncstorage.gate import auth as auth_module
from syncstorage.gate.auth import Authenticator, VerifiedCredentials, parse_basic
from syncstorage.wire.errors import Unauthorized
from syncstorage.users.sql import UserDB
from syncstorage.infra.dbengine import create_engine

from ..conftest import PASSWORD, new_username, password_hash


def basic(name, password):
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_parse_basic():
    assert parse_basic(None) is None
    assert parse_basic(basic("bob", "a:b:c")) == ("bob", "a:b:c")
    assert parse_basic("basic " + base64.b64encode(b"bob:pw").decode()) == ("bob", "pw")
    for bad in ("Digest x", "Basic ###", "Basic " + base64.b64encode(b"nocolon").decode()):
        with pytest.raises(Unauthorized):
            parse_basic(bad)


@pytest.fixture
def userdb(backend_url):
    engine = create_engine(backend_url)
    yield UserDB(engine)
    engine.dispose()


@pytest.fixture
def kdf_calls(monkeypatch):
    """Count real verifications (the KDF still runs)."""
    calls = []
    real = auth_module.verify_password

    def counting(password, stored):
        calls.append(stored)
        return real(password, stored)
    monkeypatch.setattr(auth_module, "verify_password", counting)
    return calls


def test_kdf_runs_once_per_credential(userdb, kdf_calls):
    name = new_username()
    userdb.create_user(name, None, password_hash())
    authenticator = Authenticator(userdb)
    for _ in range(5):
        assert authenticator.authenticate(basic(name, PASSWORD), name).username == name
    assert len(kdf_calls) == 1
    with pytest.raises(Unauthorized):
        authenticator.authenticate(basic(name, "wrong"), name)
    assert len(kdf_calls) == 2  # failures are never cached


def test_password_change_is_seen_at_once_by_every_worker(userdb):
    name = new_username()
    user = userdb.create_user(name, None, password_hash())
    workers = [Authenticator(userdb), Authenticator(userdb)]  # two processes' caches
    for worker in workers:
        worker.authenticate(basic(name, PASSWORD), name)
    userdb.set_password(user, password_hash("another password"))
    for worker in workers:
        with pytest.raises(Unauthorized):
            worker.authenticate(basic(name, PASSWORD), name)
        assert worker.authenticate(basic(name, "another password"), name)


@pytest.mark.parametrize("legacy", ["{SSHA-256}hG7Ffh1tOZl5i/3bOd4ZwI5qdOwXcF2ItzFN1KdpTkhhYmNkZWZnaA==",
                                    "{SSHA}mLoUnWoB6xapRmPO2lAiF0vdaBNhYmNkZWZnaA=="])
def test_legacy_hash_is_upgraded_on_login(userdb, legacy):
    name = new_username()
    userdb.create_user(name, None, legacy)
    Authenticator(userdb).authenticate(basic(name, "password"), name)
    upgraded = userdb.get_user(name).password_hash
    assert upgraded.startswith("{SSCRYPT}")
    assert Authenticator(userdb).authenticate(basic(name, "password"), name)


def test_inactive_and_unknown_accounts_are_refused(userdb):
    with pytest.raises(Unauthorized):
        Authenticator(userdb).authenticate(basic("nobody", PASSWORD), "nobody")
    name = new_username()
    user = userdb.create_user(name, None, password_hash())
    with userdb.engine.begin() as conn:
        conn.execute(userdb.users.update().where(userdb.users.c.userid == user.userid).values(status=0))
    with pytest.raises(Unauthorized):
        Authenticator(userdb).authenticate(basic(name, PASSWORD), name)


def test_cache_is_bounded():
    cache = VerifiedCredentials(size=2)
    for n in range(3):
        cache.add(f"u{n}", "p", "h")
    assert not cache.contains("u0", "p", "h") and cache.contains("u2", "p", "h")
    assert not cache.contains("u2", "p", "other-hash")


def _two_workers(make_settings, memcached, secret):
    from syncstorage.web.app import make_app
    settings = make_settings(cache__servers=memcached.address, cache__credentials_secret=secret)
    return make_app(settings), make_app(settings)


@pytest.mark.parametrize("configuration", ["sqlite+memcached"], indirect=True)
def test_kdf_runs_once_for_all_workers_with_a_shared_secret(make_settings, memcached, kdf_calls):
    first, second = _two_workers(make_settings, memcached, "s3cret-for-tests")
    name = new_username()
    first.services.userdb.create_user(name, None, password_hash())
    first.services.authenticator.authenticate(basic(name, PASSWORD), name)
    second.services.authenticator.authenticate(basic(name, PASSWORD), name)
    assert len(kdf_calls) == 1
    with pytest.raises(Unauthorized):
        second.services.authenticator.authenticate(basic(name, "wrong"), name)
    # a password change voids the shared entry for every worker at once
    first.services.userdb.set_password(first.services.userdb.get_user(name), password_hash("changed password"))
    with pytest.raises(Unauthorized):
        second.services.authenticator.authenticate(basic(name, PASSWORD), name)


@pytest.mark.parametrize("configuration", ["sqlite+memcached"], indirect=True)
def test_without_a_secret_each_worker_verifies_once(make_settings, memcached, kdf_calls):
    first, second = _two_workers(make_settings, memcached, "")
    name = new_username()
    first.services.userdb.create_user(name, None, password_hash())
    for _ in range(3):
        first.services.authenticator.authenticate(basic(name, PASSWORD), name)
        second.services.authenticator.authenticate(basic(name, PASSWORD), name)
    assert len(kdf_calls) == 2


@pytest.mark.parametrize("configuration", ["sqlite+memcached"], indirect=True)
def test_a_shared_entry_proves_a_password_only_with_its_own_value(make_settings, memcached, kdf_calls):
    """A value stored under a wrong password's key (an entry of another format, or a reply
    meant for another key read off a connection out of step) must not let that password in."""
    app, _ = _two_workers(make_settings, memcached, "s3cret-for-tests")
    name = new_username()
    app.services.userdb.create_user(name, None, password_hash())
    shared, stored = app.services.authenticator.shared, app.services.userdb.get_user(name).password_hash
    wrong_key = shared.client.key("cred:" + shared._digest(name, "wrong", stored))
    for value in ("1", shared._digest(name, PASSWORD, stored)):
        shared.client.call("set", wrong_key, value)
        with pytest.raises(Unauthorized):
            app.services.authenticator.authenticate(basic(name, "wrong"), name)
    app.services.authenticator.authenticate(basic(name, PASSWORD), name)
