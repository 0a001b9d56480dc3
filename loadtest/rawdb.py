"""What the database itself does for the two hot paths, sent raw with the DBAPI driver:
the baselines the server's POST and GET are measured against.

* upsert: 100 rows of 500-byte payloads (:data:`PAYLOADS`: record-shaped JSON, as
  clients send, or flat) into the user's ``wbo`` shard, ``INSERT ...
  ON DUPLICATE KEY UPDATE`` (MariaDB) or ``ON CONFLICT DO UPDATE`` (SQLite) of the
  columns a write replaces, one transaction, as the server's write does;
* range read: the user's 100 newest records of a collection, the columns a full
  GET returns, ``ORDER BY modified DESC LIMIT 100``.

Same database, same table and shard as the server uses (storage/schema.py), no
SQLAlchemy, no validation, no JSON.  With ``server_literals`` the connection is the
server's (syncstorage/infra/mysqlconn.py: cheaper string literals than PyMySQL's),
so that the upsert's baseline can be had both ways.  :func:`throughput` runs one operation from
``processes`` processes x ``threads`` threads for ``seconds`` and returns records/s;
:func:`client_cpu` the client CPU of one operation in this process.
"""
from __future__ import annotations

import json
import multiprocessing
import threading
import time
from typing import Callable

import sqlalchemy as sa

from loadtest import profiles
from loadtest.services import with_driver
from syncstorage.infra import mysqlconn
from syncstorage.infra.dbengine import open_connections_as
from syncstorage.storage.schema import NO_EXPIRY, shard_for
from syncstorage.storage.sql import REPLACED_COLUMNS as REPLACED, UPSERT_COLUMNS as COLUMNS  # the same row shape

RECORDS = 100
# The ids every benchmark's batch writes (as loadtest/wrk/post_batch.lua does): a user's
# history holds these 100 records however many batches, raw or through the server, land.
IDS = [f"rec{i:06d}" for i in range(1, RECORDS + 1)]

# What the benchmarks write: a record as Firefox encrypts it (JSON: quotes that every
# layer escapes), or the flat text earlier figures were measured with.
PAYLOADS = {"record": profiles.payload(500, start=0), "flat": "x" * 500}
COLLECTION_ID = 4  # history (storage/schema.py STANDARD_COLLECTIONS)


def post_body(payload: str) -> bytes:
    """The JSON body of a POST of :data:`IDS` (sortindex 1..100), as post_batch.lua sends it."""
    return json.dumps([{"id": item_id, "sortindex": i, "payload": payload}
                       for i, item_id in enumerate(IDS, 1)]).encode()


def _connect(url: str, server_literals: bool = False, driver: str | None = None):
    """A raw DBAPI connection for ``url`` (through ``driver``, a key of services.DRIVERS, when
    given and ``url`` is MariaDB's; with ``server_literals`` and PyMySQL, the server's
    connection class)."""
    if driver is not None and not url.startswith("sqlite"):
        url = with_driver(url, driver)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    if server_literals and engine.dialect.driver == "pymysql":
        open_connections_as(engine, mysqlconn.Connection)
    return engine.raw_connection()


def statements(url: str, shards: int, userid: int) -> tuple[str, str]:
    table = f"wbo{shard_for(userid, shards)}"
    mysql = not url.startswith("sqlite")
    mark = "%s" if mysql else "?"
    values = ", ".join([mark] * len(COLUMNS))
    if mysql:
        upsert = (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) ON DUPLICATE KEY UPDATE "
                  + ", ".join(f"{c} = VALUES({c})" for c in REPLACED))
    else:
        upsert = (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) ON CONFLICT "
                  f"(userid, collectionid, id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in REPLACED))
    read = (f"SELECT id, modified, payload, sortindex, parentid, predecessorid FROM {table} "
            f"WHERE userid = {mark} AND collectionid = {mark} AND ttl > {mark} ORDER BY modified DESC LIMIT {RECORDS}")
    return upsert, read


def operation(kind: str, url: str, shards: int, userid: int, payload: str = PAYLOADS["record"],
              server_literals: bool = False, driver: str | None = None) -> Callable[[], int]:
    """A callable doing one ``kind`` ('upsert' or 'read') on its own connection; returns records."""
    conn = _connect(url, server_literals, driver)
    upsert, read = statements(url, shards, userid)
    counter = [0]

    def do_upsert() -> int:
        counter[0] += 1
        modified = int(time.time() * 100) + counter[0]
        rows = [(userid, COLLECTION_ID, item_id, i, modified, payload, len(payload), NO_EXPIRY, None, None)
                for i, item_id in enumerate(IDS, 1)]
        cursor = conn.cursor()
        cursor.executemany(upsert, rows)
        conn.commit()
        return RECORDS

    def do_read() -> int:
        cursor = conn.cursor()
        cursor.execute(read, (userid, COLLECTION_ID, int(time.time())))
        found = len(cursor.fetchall())
        conn.commit()  # end the read's transaction, as the server's does
        return found

    return do_upsert if kind == "upsert" else do_read


def client_cpu(kind: str, url: str, shards: int, userid: int, repeat: int = 200, **options) -> float:
    """Seconds of this process's CPU per operation (best of three rounds); ``options`` as
    for :func:`operation`."""
    op = operation(kind, url, shards, userid, **options)
    op()
    best = float("inf")
    for _round in range(3):
        started = time.process_time()
        for _ in range(repeat):
            op()
        best = min(best, (time.process_time() - started) / repeat)
    return best


def _worker(kind, url, shards, userids, seconds, threads, queue, options) -> None:
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def loop(slot: int) -> None:
        op = operation(kind, url, shards, userids[slot % len(userids)], **options)
        while time.monotonic() < deadline:
            done[slot] += op()

    runners = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    queue.put(sum(done))


def throughput(kind: str, url: str, shards: int, userids: list[int], seconds: float, processes: int = 2,
               threads: int = 8, **options) -> float:
    """Records/s of ``kind`` from ``processes`` x ``threads`` clients, each on its own connection,
    rotating over ``userids`` (as the server's workers and threads would); ``options`` as for
    :func:`operation`."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, url, shards, userids[p::processes] or userids, seconds,
                                               threads, queue, options)) for p in range(processes)]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)  # each process counts from when its clients are connected
    for p in procs:
        p.join()
    return total / seconds
