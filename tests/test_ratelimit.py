"""Failed-login limits: counted per account and per address, shared through memcached, no KDF past them."""
import base64
import uuid

import pytest

from syncstorage import auth as auth_module
from syncstorage.auth import Authenticator
from syncstorage.dbengine import create_engine
from syncstorage.errors import Unauthorized
from syncstorage.memcache import CacheClient
from syncstorage.ratelimit import FailedLogins
from syncstorage.users.sql import UserDB

from .conftest import PASSWORD, new_username, password_hash


def test_limits_per_account_and_per_address_in_windows():
    clock = [1000.0]
    failures = FailedLogins(account_limit=3, address_limit=5, window=60, clock=lambda: clock[0])
    for _ in range(3):
        assert not failures.blocked("bob", "192.0.2.1")
        failures.record_failure("bob", "192.0.2.1")
    assert failures.blocked("bob", "198.51.100.7")  # the account, from anywhere
    assert not failures.blocked("alice", "198.51.100.7")
    failures.record_failure("carol", "192.0.2.1")
    failures.record_failure("dave", "192.0.2.1")
    assert failures.blocked("erin", "192.0.2.1")  # the address, for any account
    clock[0] += 60
    assert not failures.blocked("bob", "192.0.2.1")  # a new window


def test_counters_are_shared_through_memcached(memcached):
    client = CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:")
    worker_a, worker_b = FailedLogins(2, 0, 300, client), FailedLogins(2, 0, 300, client)
    worker_a.record_failure("bob", None)
    worker_b.record_failure("bob", None)
    assert worker_a.blocked("bob", None) and worker_b.blocked("bob", None)


def test_unreachable_memcached_fails_open():
    failures = FailedLogins(1, 1, 300, CacheClient(["127.0.0.1:1"], timeout=0.05))
    failures.record_failure("bob", "192.0.2.1")
    assert not failures.blocked("bob", "192.0.2.1")


@pytest.fixture
def kdf_calls(monkeypatch):
    calls = []
    real = auth_module.verify_password
    monkeypatch.setattr(auth_module, "verify_password", lambda p, s: calls.append(s) or real(p, s))
    return calls


def basic(name, password):
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_guessing_stops_costing_the_kdf_but_a_verified_client_keeps_syncing(backend_url, kdf_calls):
    engine = create_engine(backend_url)
    userdb = UserDB(engine)
    name = new_username()
    userdb.create_user(name, None, password_hash())
    authenticator = Authenticator(userdb, failures=FailedLogins(account_limit=3, address_limit=0, window=300))
    authenticator.authenticate(basic(name, PASSWORD), name, "203.0.113.5")  # the owner, verified once
    for guess in range(3):
        with pytest.raises(Unauthorized):
            authenticator.authenticate(basic(name, f"guess-{guess}"), name, "192.0.2.66")
    assert len(kdf_calls) == 4
    for guess in range(20):  # past the limit: refused without the KDF
        with pytest.raises(Unauthorized):
            authenticator.authenticate(basic(name, f"more-{guess}"), name, "192.0.2.66")
    assert len(kdf_calls) == 4
    assert authenticator.authenticate(basic(name, PASSWORD), name, "203.0.113.5").username == name
    engine.dispose()
