"""A node's database as a semi-synchronous primary/replica pair: the primary killed (SIGKILL) while
ten clients write and the replica lags in applying, the replica promoted, and every write a client saw
acknowledged is there; the old primary, back, is read-only and refuses writes (503) until it has
rejoined."""
import json
import threading
import time

import pytest

from loadtest.services import ReplicatedMariaDB, receiving, wait_for
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
    wait_for(lambda: not replica_receiving(pair.replica), 30, what="the promotion to stop replication")
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

    # docs/runbook.md section 8, step 6: it rejoins as the new primary's replica, or, if it holds a
    # transaction the new primary never received (never acknowledged), it stops with a GTID error
    rejoined = rejoin(pair.primary, pair.replica, pair.REPL_USER, pair.REPL_PASSWORD)
    if rejoined == "replicating":
        assert_replicates(pair.replica, pair.primary)
    print(f"the old primary after the runbook's rejoin: {rejoined}")


def test_a_primary_stopped_cleanly_rejoins_as_the_replica(pair):
    """A switchover (the primary stopped for maintenance, nothing in flight): after promotion the old
    primary holds nothing the new one lacks, and the runbook's step 6 makes it a working replica."""
    url = pair.create_database("node1")
    migrate(load_settings(overrides={"storage.sqluri": url}, environ={}), log=lambda m: None)
    pair.primary.stop(remove=False)
    pair.promote()
    pair.primary.start()
    assert rejoin(pair.primary, pair.replica, pair.REPL_USER, pair.REPL_PASSWORD) == "replicating"
    assert_replicates(pair.replica, pair.primary)
    with pair.primary.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@read_only")
        assert cur.fetchone()[0] == 1  # still fenced: a replica takes no writes of its own


def assert_replicates(primary, replica) -> None:
    """A row written on ``primary`` is on ``replica`` once it has applied what the primary logged."""
    with primary.root_connection() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO node1.user_collections (userid, collectionid, modified, count, bytes, min_ttl) "
                    "VALUES (999999, 1, 1, 0, 0, 0)")
        cur.execute("SELECT @@gtid_binlog_pos")
        position = cur.fetchone()[0]
    with replica.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT MASTER_GTID_WAIT(%s, 60)", (position,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT COUNT(*) FROM node1.user_collections WHERE userid = 999999")
        assert cur.fetchone()[0] == 1


def rejoin(old, new, user: str, password: str) -> str:
    """Runbook step 6 on ``old`` (as root); 'replicating', or 'diverged' when replication stops with
    the GTID error the runbook names (then the server is rebuilt from a backup instead)."""
    import pymysql.cursors

    with old.root_connection() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos")
        cur.execute(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={new.port}, MASTER_USER='{user}', "
                    f"MASTER_PASSWORD='{password}', MASTER_USE_GTID=slave_pos")
        cur.execute("START SLAVE")

        def settled():
            cur.execute("SHOW SLAVE STATUS")
            status = cur.fetchone()
            if status["Last_IO_Errno"] == 1236:  # asked for a GTID the new primary's binlog lacks
                return "diverged"
            if status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes":
                return "replicating"
            assert not status["Last_SQL_Errno"], status["Last_SQL_Error"]
            return None
        try:
            return wait_for(settled, 60, what="the old primary to replicate or stop")
        except TimeoutError:
            cur.execute("SHOW SLAVE STATUS")
            raise AssertionError(str(cur.fetchone()))


def replica_receiving(server) -> bool:
    with server.root_connection() as conn:
        return receiving(conn)
