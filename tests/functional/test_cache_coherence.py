"""memcached in front of the hot calls: no SQL on hits, and never a stale answer."""
import base64
import http.client
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from syncstorage.infra.dbengine import create_engine
from loadtest.services import Memcached, free_port, wait_for
from syncstorage.storage.sql import SQLStorage

from ..conftest import PASSWORD, new_username, password_hash, start_service, sql_store


class StatementCounter:
    def __init__(self, engine):
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *args):
        self.count += 1


with_memcached = pytest.mark.parametrize("configuration", ["sqlite+memcached", "mysql+memcached"], indirect=True)


@pytest.fixture
def cached_app(make_testapp, make_user, configuration):
    app = make_testapp(node__status_refresh=60)  # worker-side snapshots outlive the test
    user = make_user(app)
    return app, f"/1.1/{user.username}"


@with_memcached
def test_cache_hits_cost_no_sql(cached_app):
    app, root = cached_app
    app.post(f"{root}/storage/bookmarks", json.dumps([{"id": str(i), "payload": "x" * 10} for i in range(5)]))
    for path in ("/info/collections", "/info/collection_counts", "/info/quota", "/info/collection_usage"):
        app.get(root + path)  # warm every worker-side cache once
    app.get(f"/user/1.0/{root.split('/')[2]}/node/weave")  # and the worker's view of the nodes table
    counter = StatementCounter(sql_store(app.app).engine)
    for path in ("/info/collections", "/info/collection_counts", "/info/quota", "/info/collection_usage"):
        app.get(root + path)
    app.get(f"/user/1.0/{root.split('/')[2]}/node/weave")
    assert counter.count == 0
    # a write is SQL, and the entry it leaves is fresh: the next read is a hit again
    app.put(f"{root}/storage/bookmarks/new", '{"payload": "y"}')
    written = counter.count
    assert written > 0
    assert app.get(f"{root}/info/collection_counts").json == {"bookmarks": 6}
    assert counter.count == written


@with_memcached
def test_password_change_is_seen_through_the_cache(cached_app, make_testapp):
    app, root = cached_app
    username = root.split("/")[2]
    other_worker = make_testapp()  # another process's caches, same memcached
    other_worker.authorization = app.authorization
    other_worker.get(f"{root}/info/collections")
    app.post(f"/user/1.0/{username}/password", "brand-new-password")
    other_worker.get(f"{root}/info/collections", status=401)
    other_worker.authorization = ("Basic", (username, "brand-new-password"))
    other_worker.get(f"{root}/info/collections")


@with_memcached
def test_threads_writing_one_user_leave_every_view_equal_to_sql(cached_app):
    app, root = cached_app
    errors = []

    def writer(n):
        try:
            for i in range(8):
                app.post(f"{root}/storage/c{n % 3}", json.dumps([{"id": f"{n}-{i}", "payload": "x" * (n + i)},
                                                                  {"id": "shared", "payload": "s" * n}]))
                if i % 3 == 2:
                    app.delete(f"{root}/storage/c{n % 3}?ids={n}-{i - 1}")
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_views_equal_sql(lambda path: app.get(root + path).json, sql_store(app.app).engine,
                           app.app.services.userdb.get_user(root.split("/")[2]).userid)


def assert_views_equal_sql(get, engine, userid):
    """Every info/* view, as served, equals what SQL says right now."""
    sql = SQLStorage(engine)
    ts = int(__import__("time").time() * 100)
    stamps = sql.get_collection_timestamps(userid)
    assert get("/info/collections") == {name: float(f"{t / 100:.2f}") for name, t in stamps.items()}
    assert get("/info/collection_counts") == sql.get_collection_counts(userid, ts)
    usage = sql.get_collection_usage(userid, ts)
    assert get("/info/collection_usage") == pytest.approx({name: size / 1024 for name, size in usage.items()})
    assert get("/info/quota")[0] == pytest.approx(sum(usage.values()) / 1024)


# -- two gunicorn workers sharing memcached, with memcached killed mid-run ------------
@pytest.fixture
def private_memcached():
    server = start_service(Memcached)
    yield server
    server.stop()


def test_two_workers_many_writers_and_a_memcached_restart(mysql_url, private_memcached, tmp_path):
    port = free_port()
    env = {**os.environ, "SYNCSTORAGE_STORAGE_SQLURI": mysql_url, "SYNCSTORAGE_CACHE_SERVERS": private_memcached.address,
           "SYNCSTORAGE_CACHE_TIMEOUT": "0.1", "SYNCSTORAGE_NODE_URL": "auto"}
    engine = create_engine(mysql_url)
    from syncstorage.ops.server import gunicorn_command
    from syncstorage.users.sql import UserDB
    name = new_username()
    userid = UserDB(engine).create_user(name, None, password_hash()).userid
    log = open(tmp_path / "gunicorn.log", "wb")
    env.update({"PORT": str(port), "SYNCSTORAGE_SERVER_WORKERS": "2", "SYNCSTORAGE_SERVER_THREADS": "8"})
    server = subprocess.Popen(gunicorn_command(), env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}/1.1/{name}"
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()

    def call(path, method="GET", body=None):
        request = urllib.request.Request(base + path, data=body, method=method,
                                         headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=30) as res:
            return res.status, res.headers, json.loads(res.read() or b"null")

    try:
        wait_for(lambda: call("/info/collections")[0] == 200, 60, interval=0.2, what="gunicorn")
        failures, broken, stale = [], [], []
        done = []  # one entry per completed write
        outage = {}

        def writer(n):
            for i in range(200):  # bounded; normally ends once 40 writes happened after the restart
                if outage.get("after_done"):
                    return
                try:
                    status, headers, body = call(f"/storage/col{n % 4}", "POST",
                                                 json.dumps([{"id": f"w{n}-{i % 7}", "payload": "p" * (i + n)}]).encode())
                    written = float(headers["X-Weave-Timestamp"])
                    # read-your-writes, whichever worker answers
                    seen = call("/info/collections")[2].get(f"col{n % 4}", 0)
                    if seen < written:
                        stale.append((n, i, seen, written))
                    done.append(n)
                except urllib.error.HTTPError as error:
                    failures.append(error.code)
                except (OSError, http.client.HTTPException) as error:  # no answer at all: a worker died?
                    broken.append(repr(error))

        def restart_memcached():
            wait_for(lambda: len(done) >= 40, 60, interval=0.01, what="writes before the outage")
            port_before = private_memcached.port
            private_memcached.stop()
            outage["from"] = len(done)
            wait_for(lambda: len(done) >= outage["from"] + 40, 60, interval=0.01, what="writes during the outage")
            outage["to"] = len(done)
            private_memcached.port = port_before
            private_memcached.start()
            wait_for(lambda: len(done) >= outage["to"] + 40, 60, interval=0.01, what="writes after the outage")
            outage["after_done"] = True

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        threads.append(threading.Thread(target=restart_memcached))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log.flush()
        server_log = (tmp_path / "gunicorn.log").read_text(errors="replace")
        assert broken == [], server_log[-4000:]
        assert server_log.count("Booting worker") == 2, server_log[-4000:]  # none died and was replaced
        assert outage["to"] - outage["from"] >= 40 and len(done) > outage["to"]  # before, during and after
        assert failures == [] and stale == []
        assert_views_equal_sql(lambda path: call(path)[2], engine, userid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        engine.dispose()
