"""A node's database as a semi-synchronous primary/replica pair: the primary killed (SIGKILL) while
ten clients write and the replica lags in applying, the replica promoted, and every write a client saw
acknowledged is there; the old primary, back, is read-only and refuses writes (503) until it has
rejoined."""
import json
import threading
import time

import pytest

from loadtest.services import ReplicatedMariaDB, wait_for
from syncstorage.infra.config import load_settings
from syncstorage.services.migrate import migrate
from syncstorage.web.app import make_app

from ..conftest import PASSWORD, new_username, password_hash, start_service
from ..gate.test_overload import call

pytestmark = pytest.mark.services
CLIENTS = 10


@pytest.fixture
def pair():
    servers = start_service(ReplicatedMariaDB)
    yield servers
    servers.stop()


def receiving(server) -> bool:
    import pymysql.cursors

    with server.root_connection() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        status = cur.fetchone()
    return bool(status) and status["Slave_IO_Running"] != "No"


def node_app(url: str):
    return make_app(load_settings(overrides={"storage.sqluri": url, "storage.connect_timeout": 1,
                                             "storage.read_timeout": 3, "storage.retry_after": 30}, environ={}))


def test_failover_loses_no_acknowledged_write(pair):
    url = pair.create_database("node1")  # the application's account: read_only fences it
    migrate(load_settings(overrides={"storage.sqluri": url}, environ={}), log=lambda m: None)
    app = node_app(url)
    names = [new_username() for _ in range(CLIENTS)]
    for name in names:
        app.services.userdb.create_user(name, None, password_hash())
    acknowledged = {name: [] for name in names}
    refused = {name: 0 for name in names}
    stop = threading.Event()

    def client(name: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            record = f"r{n:05d}"
            result = call(app, "POST", f"/1.1/{name}/storage/history", f"{name}:{PASSWORD}",
                          json.dumps([{"id": record, "payload": "x" * 200}]).encode())
            if result["status"] == 200 and record in json.loads(result["body"])["success"]:
                acknowledged[name].append(record)
            elif result["status"] == 503:
                assert "Retry-After" in result["headers"]
                refused[name] += 1
            else:
                raise AssertionError(f"{result['status']} {result['body'][:200]!r}")

    threads = [threading.Thread(target=client, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: sum(map(len, acknowledged.values())) >= 150, 120, what="150 acknowledged writes")
        lag = pair.hold_replay()  # from here the replica has what is acknowledged, but has not applied it
        wait_for(lambda: sum(map(len, acknowledged.values())) >= 300, 120, what="300 acknowledged writes")
        pair.primary.kill()
        killed = time.monotonic()
        wait_for(lambda: all(refused.values()), 60, what="every client to be refused")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    # Promotion begins while the replica still cannot apply its backlog (as when it lags): it must
    # wait for every received transaction instead of discarding the relay log.
    promotion = threading.Thread(target=pair.promote)
    promotion.start()
    wait_for(lambda: not receiving(pair.replica), 30, what="the promotion to stop replication")
    lag.close()
    promotion.join(60)
    promoted = app = node_app(pair.url(pair.replica, "node1"))  # the node pointed at the new primary
    first = call(promoted, "POST", f"/1.1/{names[0]}/storage/tabs", f"{names[0]}:{PASSWORD}",
                 json.dumps([{"id": "after", "payload": "y"}]).encode())
    assert first["status"] == 200
    unavailable = time.monotonic() - killed

    found = {}
    for name in names:
        result = call(promoted, "GET", f"/1.1/{name}/storage/history", f"{name}:{PASSWORD}")
        assert result["status"] == 200
        found[name] = set(json.loads(result["body"]))
    lost = sum(len(set(acknowledged[name]) - found[name]) for name in names)
    total = sum(map(len, acknowledged.values()))
    print(f"acknowledged {total}, found {sum(len(set(acknowledged[n]) & found[n]) for n in names)}, "
          f"lost {lost}, unavailable {unavailable:.1f} s")
    assert lost == 0

    # the old primary comes back (it starts read-only) and must not take writes for anyone
    pair.primary.start()
    stale = node_app(pair.url(pair.primary, "node1"))
    result = call(stale, "POST", f"/1.1/{names[0]}/storage/tabs", f"{names[0]}:{PASSWORD}",
                  json.dumps([{"id": "split-brain", "payload": "z"}]).encode())
    assert result["status"] == 503 and "Retry-After" in result["headers"]
    for server_app in (app, stale):
        server_app.services.close()
