"""A stopped database gives 503 + Retry-After (never 500), and service resumes when it returns."""
import json

import pytest
import webtest

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from loadtest.services import create_account
from syncstorage.services.migrate import migrate
from syncstorage.storage.sql import SQLStorage

from ..conftest import PASSWORD, new_username, password_hash, start_service


def logged_in(settings) -> tuple[webtest.TestApp, str]:
    """A WebTest app over ``settings`` logged in as a new account, and that account's storage root."""
    app = webtest.TestApp(make_app(settings))
    name = new_username()
    app.app.services.userdb.create_user(name, None, password_hash())
    app.authorization = ("Basic", (name, PASSWORD))
    return app, f"/1.1/{name}"


def test_stopped_database_is_503_then_recovers(own_mariadb, through_driver):
    url = through_driver(own_mariadb.create_database("failover"))
    settings = load_settings(overrides={"storage.sqluri": url, "storage.pool_timeout": 2,
                                        "storage.retry_after": 600}, environ={})
    migrate(settings, log=lambda m: None)
    app, root = logged_in(settings)
    batch = [{"id": str(i), "payload": "x" * 100} for i in range(50)]
    app.post(f"{root}/storage/history", json.dumps(batch))

    own_mariadb.stop(remove=False)
    for method, path, body in (("GET", "/info/collections", None), ("GET", "/storage/history?full=1", None),
                               ("POST", "/storage/history", json.dumps(batch)), ("DELETE", "/storage/history", None)):
        res = app.request(root + path, method=method, body=body.encode() if body else None, expect_errors=True)
        assert res.status_int == 503, (path, res.status)
        assert res.headers["Retry-After"] == "600" and res.headers["X-Weave-Backoff"] == "600"
        assert "crash id" in res.json
    plain = app.get("/__heartbeat__", status=503)
    assert plain.headers["Retry-After"] == "600"
    # what failed, but not how: error texts name hosts, users and databases
    assert plain.json == "server issue: users: failed; storage: failed"
    detail = app.get("/__heartbeat__", headers={"Accept": "application/json"}, status=503).json
    assert detail["status"] == "error" and detail["checks"] == {"storage": "failed", "users": "failed"}
    assert "ms" not in detail
    operator = app.get("/__heartbeat__", headers={"Accept": "application/json"}, status=503,
                       extra_environ={"REMOTE_ADDR": "127.0.0.1"}).json
    assert "Can't connect" in operator["checks"]["storage"] and "storage" in operator["ms"]

    own_mariadb.start()
    assert app.get(f"{root}/info/collection_counts").json == {"history": 50}  # nothing lost, no restart
    assert app.get("/__heartbeat__").status_int == 200
    assert app.get("/__heartbeat__", headers={"Accept": "application/json"}).json["checks"] == {
        "storage": "ok", "users": "ok"}


@pytest.mark.services
def test_stopped_memcached_degrades_to_sql_and_loses_nothing(mysql_url, caplog):
    """memcached stopped while requests flow: every request still succeeds from SQL, the
    heartbeat says "degraded" (not down), and after memcached returns no stale entry is served."""
    from loadtest.services import Memcached

    cache = start_service(Memcached)
    try:
        settings = load_settings(overrides={"storage.sqluri": mysql_url, "cache.servers": cache.address,
                                            "cache.timeout": 0.2}, environ={})
        app, root = logged_in(settings)
        app.post(f"{root}/storage/tabs", json.dumps([{"id": "a", "payload": "1"}]))
        assert app.get(f"{root}/info/collection_counts").json == {"tabs": 1}  # now cached

        cache.stop()
        for i in range(5):  # writes and reads keep working while it is gone
            app.post(f"{root}/storage/tabs", json.dumps([{"id": f"b{i}", "payload": "2"}]))
            assert app.get(f"{root}/info/collection_counts").json == {"tabs": 2 + i}
        detail = app.get("/__heartbeat__", headers={"Accept": "application/json"}).json
        assert detail["status"] == "degraded" and detail["checks"]["cache"] != "ok"
        assert app.get("/__heartbeat__").status_int == 200

        cache.start()  # empty, as after a restart
        app.post(f"{root}/storage/tabs", json.dumps([{"id": "c", "payload": "3"}]))
        assert app.get(f"{root}/info/collection_counts").json == {"tabs": 7}
        assert app.get(f"{root}/storage/tabs").json.__len__() == 7
        assert "memcached" in caplog.text.lower()
    finally:
        cache.stop()


class ExplodingStorage(SQLStorage):
    """Fault injection: a programming error inside the storage layer."""

    def get_collection_timestamps(self, userid):
        raise RuntimeError("boom")


def test_unexpected_error_is_500_with_crash_id(sqlite_url, caplog):
    from syncstorage.infra.dbengine import create_engine
    settings = load_settings(overrides={"storage.sqluri": sqlite_url}, environ={})
    app = webtest.TestApp(make_app(settings, storage=ExplodingStorage(create_engine(sqlite_url))))
    name = new_username()
    app.app.services.userdb.create_user(name, None, password_hash())
    app.authorization = ("Basic", (name, PASSWORD))
    res = app.get(f"/1.1/{name}/info/collections", status=500)
    crash_id = res.json.rsplit(" ", 1)[1]
    assert crash_id in caplog.text and "boom" in caplog.text


def test_a_hung_database_fails_fast_and_the_pool_recovers(own_mariadb, through_driver):
    """A server that stops answering (SIGSTOP: a hung host, a dead primary behind a proxy) holds a
    request no longer than [storage] read_timeout or connect_timeout: 503 + Retry-After, and
    once it answers again the next request succeeds without a restart."""
    import time

    url = through_driver(own_mariadb.create_database("hung"))
    settings = load_settings(overrides={"storage.sqluri": url, "storage.read_timeout": 2,
                                        "storage.connect_timeout": 1, "storage.retry_after": 60}, environ={})
    migrate(settings, log=lambda m: None)
    app, root = logged_in(settings)
    app.post(f"{root}/storage/history", json.dumps([{"id": "a", "payload": "x"}]))

    own_mariadb.pause()
    try:
        for method, path, body in (("POST", "/storage/history", json.dumps([{"id": "b", "payload": "y"}])),
                                   ("GET", "/storage/history?full=1", None)):
            started = time.monotonic()
            res = app.request(root + path, method=method, body=body.encode() if body else None, expect_errors=True)
            assert res.status_int == 503 and res.headers["Retry-After"] == "60", (path, res.status)
            assert time.monotonic() - started < 10  # bounded by the timeouts, not by the server
    finally:
        own_mariadb.resume()
    assert app.get(f"{root}/storage/history").json == ["a"]  # the write that timed out was not committed
    app.post(f"{root}/storage/history", json.dumps([{"id": "b", "payload": "y"}]))
    assert sorted(app.get(f"{root}/storage/history").json) == ["a", "b"]


def test_a_fenced_read_only_database_refuses_writes_with_503_and_serves_reads(own_mariadb, through_driver):
    """A primary fenced with read_only (or a replica the proxy still points at) refuses writes:
    the client gets 503 + Retry-After (never 500) and keeps its data readable; writes resume
    as soon as the server is writable again, without a restart."""
    url = own_mariadb.create_database("fenced")
    with own_mariadb.root_connection() as conn, conn.cursor() as cur:  # an account without READ ONLY ADMIN
        create_account(cur, "app", "app-password", "ALL PRIVILEGES", "`fenced`.*")
    migrate(load_settings(overrides={"storage.sqluri": url}, environ={}), log=lambda m: None)
    app_url = through_driver(url.replace(f"{own_mariadb.USER}:{own_mariadb.PASSWORD}", "app:app-password"))
    settings = load_settings(overrides={"storage.sqluri": app_url, "storage.retry_after": 60}, environ={})
    app, root = logged_in(settings)
    app.post(f"{root}/storage/history", json.dumps([{"id": "a", "payload": "x"}]))

    with own_mariadb.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL read_only = 1")
    try:
        res = app.post(f"{root}/storage/history", json.dumps([{"id": "b", "payload": "y"}]), expect_errors=True)
        assert res.status_int == 503 and res.headers["Retry-After"] == "60"
        assert app.get(f"{root}/storage/history").json == ["a"]
    finally:
        with own_mariadb.root_connection() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL read_only = 0")
    app.post(f"{root}/storage/history", json.dumps([{"id": "b", "payload": "y"}]))
    assert sorted(app.get(f"{root}/storage/history").json) == ["a", "b"]
