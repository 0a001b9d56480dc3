"""Failed-login limits: counted per account and per address, shared through memcached, no KDF past them."""
import base64
import uuid

import pytest

from syncstorage.gate import auth as auth_module
from syncstorage.gate.auth import Authenticator
from syncstorage.infra.dbengine import create_engine
from syncstorage.wire.errors import Throttled, Unauthorized
from syncstorage.infra.memcache import CacheClient
from syncstorage.gate.ratelimit import FailedLogins, ResetLimits
from syncstorage.users.sql import UserDB

from ..conftest import PASSWORD, new_username, password_hash


def test_one_address_guessing_one_account_slows_only_itself():
    clock = [960.0]  # a window starts
    failures = FailedLogins(account_limit=3, address_limit=5, window=60, clock=lambda: clock[0])
    for _ in range(3):
        assert failures.refused("bob", "192.0.2.1") is None
        failures.record_failure("bob", "192.0.2.1")
    assert failures.refused("bob", "192.0.2.1") == 61  # until the window ends (and a second)
    assert failures.refused("bob", "198.51.100.7") is None  # the owner, elsewhere
    assert failures.refused("alice", "192.0.2.1") is None
    failures.record_failure("carol", "192.0.2.1")
    failures.record_failure("dave", "192.0.2.1")
    assert failures.refused("erin", "192.0.2.1") is not None  # the address, for any account
    clock[0] += 30
    assert failures.refused("erin", "192.0.2.1") == 31
    clock[0] += 30
    assert failures.refused("bob", "192.0.2.1") is None  # a new window


def test_many_addresses_guessing_one_account_spare_the_owners_known_address():
    failures = FailedLogins(account_limit=3, address_limit=0, window=60, account_total_limit=10,
                            clock=lambda: 1000.0)
    failures.record_success("bob", "203.0.113.5")  # the owner logged in from home before
    for n in range(10):
        failures.record_failure("bob", f"192.0.2.{n}")
    assert failures.refused("bob", "192.0.2.200") is not None  # a new address of the botnet
    assert failures.refused("bob", "203.0.113.5") is None  # the owner's address
    assert failures.refused("alice", "192.0.2.200") is None


def test_counters_are_shared_through_memcached(memcached):
    client = CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:")
    worker_a, worker_b = FailedLogins(2, 0, 300, client), FailedLogins(2, 0, 300, client)
    worker_a.record_failure("bob", "192.0.2.1")
    worker_b.record_failure("bob", "192.0.2.1")
    assert worker_a.refused("bob", "192.0.2.1") and worker_b.refused("bob", "192.0.2.1")
    assert worker_a.refused("bob", "192.0.2.2") is None
    worker_a.record_success("bob", "192.0.2.9")
    assert worker_b.counters.get(["ok:bob:192.0.2.9"]) == {"ok:bob:192.0.2.9": 1}


def test_names_memcached_cannot_take_are_counted_too(memcached):
    """A guessed user name is any text: spaces, control characters, 300 bytes."""
    client = CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:")
    failures = FailedLogins(1, 0, 300, client)
    for name in ("with space", "x" * 300, "tab\there", "\u00e9t\u00e9"):
        failures.record_failure(name, "192.0.2.1")
        assert failures.refused(name, "192.0.2.1") is not None


def test_unreachable_memcached_fails_open():
    failures = FailedLogins(1, 1, 300, CacheClient(["127.0.0.1:1"], timeout=0.05))
    failures.record_failure("bob", "192.0.2.1")
    assert failures.refused("bob", "192.0.2.1") is None


def test_reset_limits_per_account_and_address():
    clock = [1000.0]
    limits = ResetLimits(mails_per_account=2, mails_per_address=3, code_failures=2, window=100,
                         clock=lambda: clock[0])
    for _ in range(2):
        assert limits.mail_refused("bob", "192.0.2.1") is None
        limits.record_mail("bob", "192.0.2.1")
    assert limits.mail_refused("bob", "198.51.100.7") is not None  # the account's mails, from anywhere
    assert limits.mail_refused("alice", "192.0.2.1") is None
    limits.record_mail("alice", "192.0.2.1")
    assert limits.mail_refused("carol", "192.0.2.1") is not None  # the address's mails
    for _ in range(2):
        limits.record_code_failure("bob", "192.0.2.1")
    assert limits.code_refused("bob", "198.51.100.7") is not None
    assert limits.code_refused("alice", "192.0.2.1") is not None
    clock[0] += 100
    assert limits.mail_refused("bob", "192.0.2.1") is None and limits.code_refused("bob", "192.0.2.1") is None


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
    for guess in range(20):  # past the limit: refused without the KDF, and not as a wrong password
        with pytest.raises(Throttled) as refused:
            authenticator.authenticate(basic(name, f"more-{guess}"), name, "192.0.2.66")
        assert refused.value.status == 503 and int(refused.value.headers["Retry-After"]) > 0
    assert len(kdf_calls) == 4
    assert authenticator.authenticate(basic(name, PASSWORD), name, "203.0.113.5").username == name
    # the owner's new device, at another address, logs in with the KDF as usual
    authenticator.cache = type(authenticator.cache)()
    assert authenticator.authenticate(basic(name, PASSWORD), name, "198.51.100.20").username == name
    assert len(kdf_calls) == 5
    engine.dispose()
