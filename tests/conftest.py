"""Shared fixtures: backends (SQLite and a throwaway MariaDB), settings, apps, users.

MariaDB and memcached are started from the installed binaries on loopback.
When a binary is missing the tests that need it skip, unless
SYNCSTORAGE_REQUIRE_SERVICES=1 (set by CI), in which case they fail.
"""
from __future__ import annotations

import os
import uuid

import pytest
import webtest

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from loadtest.services import MariaDB, Memcached, ServiceUnavailable, with_driver
from syncstorage.services.migrate import migrate
from syncstorage.gate.passwords import hash_password
from syncstorage.storage import transfer

REQUIRE_SERVICES = os.environ.get("SYNCSTORAGE_REQUIRE_SERVICES") == "1"
UNIT_ONLY = os.environ.get("SYNCSTORAGE_UNIT_ONLY") == "1"  # make test-unit: starting a service is a mistake
SERVICE_FIXTURES = {"mariadb", "memcached", "mysql_url", "mysqlclient_url", "own_mariadb"}
SERVICE_FOLDERS = {"loadtest", "config"}  # tests that run gunicorn, nginx or the benchmarks
# "mysql": MariaDB through PyMySQL; "mysqlclient": the same database through the C driver
BACKENDS = ("sqlite", "mysql", "mysqlclient")
APP_CONFIGURATIONS = ("sqlite", "mysql", "sqlite+memcached", "mysql+memcached", "mysqlclient+memcached")
SHARDS = 3
PASSWORD = "correct horse battery"


def pytest_collection_modifyitems(config, items):
    """Mark ``services`` every test that needs MariaDB, memcached, nginx or a server process
    (by its fixtures, its configuration parameter or its folder); the rest is ``make test-unit``."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = " ".join(str(v) for v in callspec.params.values()) if callspec else ""
        if (SERVICE_FIXTURES & set(item.fixturenames) or "mysql" in params or "memcached" in params
                or item.path.parent.name in SERVICE_FOLDERS):
            item.add_marker(pytest.mark.services)


def start_service(factory):
    """``factory().start()``; when its binaries are missing, skip the test, or fail it
    when SYNCSTORAGE_REQUIRE_SERVICES=1."""
    if UNIT_ONLY:
        pytest.fail("a test outside the services marker started a service: mark it @pytest.mark.services")
    try:
        return factory().start()
    except ServiceUnavailable as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"required service missing: {error}")
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def mariadb():
    server = start_service(MariaDB)
    yield server
    server.stop()


@pytest.fixture
def own_mariadb():
    """A MariaDB of this test's own, which it may stop."""
    server = start_service(MariaDB)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def memcached():
    server = start_service(Memcached)
    yield server
    server.stop()


def _migrated(url: str) -> str:
    migrate(load_settings(overrides={"storage.sqluri": url, "storage.shards": SHARDS}, environ={}),
            log=lambda _msg: None)
    return url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    return _migrated(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'sync.db'}")


@pytest.fixture(scope="session")
def mysql_url(mariadb):
    return _migrated(mariadb.create_database("syncstorage_test"))


def require_mysqlclient() -> None:
    """Skip the test when mysqlclient (the C driver, setup.py's ``mysqlclient`` extra) is
    not installed, or fail it when SYNCSTORAGE_REQUIRE_SERVICES=1."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"required driver missing: mysqlclient ({error})")
        pytest.skip(f"mysqlclient is not installed ({error})")


def with_c_driver(url: str) -> str:
    """A PyMySQL URL of MariaDB's as the C driver's (mysqlclient)."""
    require_mysqlclient()
    return with_driver(url, "mysqlclient")


@pytest.fixture(params=["pymysql", "mysqlclient"])
def through_driver(request):
    """Each MariaDB driver in turn, as a function from a PyMySQL URL to that driver's."""
    return with_c_driver if request.param == "mysqlclient" else (lambda url: url)


@pytest.fixture(scope="session")
def mysqlclient_url(mysql_url):
    """The MariaDB database of ``mysql_url`` through the C driver."""
    return with_c_driver(mysql_url)


@pytest.fixture
def make_database(request, tmp_path):
    """``make_database(backend, role="both")`` -> the URL of a new, migrated database of its own
    (for tests that change database-wide state, such as the nodes table)."""
    def create(backend: str, role: str = "both", shards: int = SHARDS) -> str:
        name = "t" + uuid.uuid4().hex[:12]
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / (name + '.db')}"
        else:
            url = request.getfixturevalue("mariadb").create_database(name)
            if backend == "mysqlclient":
                url = with_c_driver(url)
        overrides = {"storage.sqluri": url, "storage.shards": shards, "node.role": role}
        migrate(load_settings(overrides=overrides, environ={}), log=lambda _msg: None)
        return url
    return create


@pytest.fixture(params=BACKENDS)
def backend_url(request):
    """A migrated database URL, once per database; tests isolate by user."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(params=APP_CONFIGURATIONS)
def configuration(request):
    """(database URL, memcached servers): every configuration the app runs in."""
    database, _, cache = request.param.partition("+")
    servers = [request.getfixturevalue("memcached").address] if cache else []
    return request.getfixturevalue(f"{database}_url"), servers


@pytest.fixture
def make_settings(configuration):
    url, cache_servers = configuration

    def build(**overrides):
        values = {"storage.sqluri": url, "node.url": "https://node.example.com/",
                  "cache.servers": ",".join(cache_servers)}
        values.update({key.replace("__", "."): value for key, value in overrides.items()})
        return load_settings(overrides=values, environ={})
    return build


@pytest.fixture
def make_testapp(make_settings):
    """Build a WebTest app from settings overrides (``storage__quota_kb=5``) and, for tests
    about time, the server's clock (``clock=lambda: now[0]``)."""
    apps = []

    def build(clock=None, **overrides):
        app = make_app(make_settings(**overrides), **({"clock": clock} if clock else {}))
        apps.append(app)
        return webtest.TestApp(app)
    yield build
    for app in apps:
        app.services.close()


@pytest.fixture
def testapp(make_testapp):
    return make_testapp()


def sql_store(app):
    """The SQL record store of an app (behind its memcached front, if any): for tests that look
    at the tables themselves."""
    return transfer.sql_store(app.services.storage)


_HASH_CACHE = {}


def password_hash(password: str = PASSWORD) -> str:
    """One KDF run per password for the whole session."""
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return _HASH_CACHE[password]


def new_username() -> str:
    return "u" + uuid.uuid4().hex[:24]


@pytest.fixture
def make_user():
    """Create an account in an app's user database and log the TestApp in as it."""
    def create(testapp, password: str = PASSWORD, email: str | None = "someone@example.com", login: bool = True):
        username = new_username()
        user = testapp.app.services.userdb.create_user(username, email, password_hash(password))
        if login:
            testapp.authorization = ("Basic", (username, password))
        return user
    return create


@pytest.fixture
def user(testapp, make_user):
    """A logged-in account on ``testapp``; ``root`` is its storage URL prefix."""
    account = make_user(testapp)
    return account


@pytest.fixture
def root(user):
    return f"/1.1/{user.username}"
