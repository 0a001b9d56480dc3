"""The database failover drill on the staging cluster, through nginx as Firefox clients talk.

Ten clients sync records to node1, each POSTing a new history record every PAUSE seconds (a load
the node serves without refusing: nginx's bound of 4 connections answers 503 past it, which
would be overload, not failover).
Part-way, node1's replica stops applying what it receives (a global read lock: it lags, but
keeps acknowledging), then node1's primary is killed with SIGKILL.  The failover follows
docs/runbook.md section 8 as written: promote the replica (stop receiving, wait until everything
received is applied, stop replicating, read_only off), point node1 at it by editing
``[storage] sqluri`` in its ini file and ``kill -HUP`` of its gunicorn (the user-API server's
``[users] node_databases`` likewise).  Meanwhile clients get 503 + Retry-After, and retry after
at most RETRY seconds (Firefox would wait the whole Retry-After; the drill measures the outage,
not the backoff).  Afterwards every record a client saw acknowledged with 200 is looked for.
The last line printed is ``acknowledged N, found N, lost 0, unavailable S s``; the exit status
is 0 only when nothing acknowledged was lost and no answer but 200 or 503 was seen.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pymysql

from loadtest.services import hold_replay, promote, receiving, wait_for
from loadtest.staging import edit_ini, ini_value
from loadtest.staging_check import create_account, node_of, request

CLIENTS = 10
RETRY = 0.5  # seconds a drill client waits after a 503 or a refused connection
PAUSE = 0.2  # seconds between a client's writes
BEFORE_LAG, BEFORE_KILL, AFTER = 100, 200, 100  # acknowledged writes before each step / after recovery


class Client(threading.Thread):
    """One device syncing history records to its node, one record per POST."""

    def __init__(self, node: str, name: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.node, self.name, self.stop = node, name, stop
        self.acknowledged: list[tuple[str, float]] = []  # (record id, when its request was sent)
        self.refused: list[float] = []
        self.unexpected: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            record = f"r{n:06d}"
            sent = time.monotonic()
            try:
                status, body, headers = request("POST", f"{self.node}1.1/{self.name}/storage/history",
                                                [{"id": record, "payload": "x" * 200}], self.name)
            except OSError:  # nginx itself not answering would be a finding too
                status, body, headers = 0, "connection failed", {}
            if status == 200 and record in json.loads(body)["success"]:
                self.acknowledged.append((record, sent))
                self.stop.wait(PAUSE)
            elif status == 503 and "Retry-After" in headers:
                self.refused.append(time.monotonic())
                self.stop.wait(RETRY)
            else:
                self.unexpected.append(f"{status} {body[:120]!r}")
                self.stop.wait(RETRY)


def root(server: dict) -> pymysql.Connection:
    return pymysql.connect(unix_socket=server["socket"], user="root", autocommit=True)


def run_drill(cluster: dict, directory: Path) -> int:
    server, node1 = cluster["server_url"], cluster["nodes"]["node1"]
    pair = cluster["node1_database"]
    names: list[str] = []
    for i in range(10 * CLIENTS):  # the user API balances new accounts over both nodes
        name = create_account(server, f"f{i}")
        if node_of(server, name) == node1:
            names.append(name)
            if len(names) == CLIENTS:
                break
    stop = threading.Event()
    clients = [Client(node1, name, stop) for name in names]
    total = lambda: sum(len(c.acknowledged) for c in clients)  # noqa: E731
    for client in clients:
        client.start()
    lag = root(pair["replica"])
    try:
        wait_for(lambda: total() >= BEFORE_LAG, 120, what=f"{BEFORE_LAG} acknowledged writes")
        hold_replay(lag)  # the replica receives and acknowledges, but cannot apply
        wait_for(lambda: total() >= BEFORE_KILL, 120, what=f"{BEFORE_KILL} acknowledged writes")
        os.kill(cluster["pids"]["node1_db_a"], signal.SIGKILL)  # the primary
        killed = time.monotonic()
        acknowledged_before_kill = total()
        refused_before_kill = sum(1 for c in clients for at in c.refused if at < killed)
        wait_for(lambda: all(c.refused and c.refused[-1] > killed for c in clients), 60,
                 what="every client to be refused (503)")

        # docs/runbook.md section 8, step 3: promote, while the replica still lags
        promoted = {}

        def promotion() -> None:
            with root(pair["replica"]) as conn:
                promote(conn, timeout=120)
            promoted["at"] = time.monotonic()
        promoting = threading.Thread(target=promotion)
        promoting.start()
        wait_for(lambda: not _still_receiving(pair["replica"]), 30, what="the promotion to stop replication")
        lag.close()  # the replica applies its backlog now; promotion waits for all of it
        promoting.join(150)
        if "at" not in promoted:
            raise RuntimeError("the promotion did not finish")

        # step 4: point the node (and the user API's map of node databases) at the new primary, HUP
        new_url = pair["replica"]["url"]
        edit_ini(directory / "node1.ini", {("storage", "sqluri"): new_url})
        users_ini = directory / "users.ini"
        maps = ini_value(users_ini, "users", "node_databases").split()
        edit_ini(users_ini, {("users", "node_databases"): " ".join(
            f"{entry.split('=', 1)[0]}={new_url}" if entry.startswith(node1 + "=") else entry for entry in maps)})
        for name in ("node1", "users"):
            os.kill(cluster["pids"][name], signal.SIGHUP)
        reloaded = time.monotonic()
        wait_for(lambda: all(any(sent > reloaded for _r, sent in c.acknowledged) for c in clients), 120,
                 what="every client to be acknowledged again")
        # a client is unavailable from the kill until a request it sends afterwards is acknowledged
        outages = sorted(min(sent for _r, sent in c.acknowledged if sent > killed) - killed for c in clients)
        after = total()
        wait_for(lambda: total() >= after + AFTER, 120, what=f"{AFTER} more acknowledged writes")
    finally:
        stop.set()
        for client in clients:
            client.join(60)
        if lag.open:
            lag.close()

    found = 0
    missing = []
    for client in clients:
        status, body, _ = request("GET", f"{node1}1.1/{client.name}/storage/history", user=client.name)
        if status != 200:
            raise RuntimeError(f"GET history of {client.name}: {status} {body[:200]}")
        stored = set(json.loads(body))
        found += sum(1 for record, _at in client.acknowledged if record in stored)
        missing += [f"{client.name}/{record}" for record, _at in client.acknowledged if record not in stored]
    acknowledged = total()
    unexpected = [answer for c in clients for answer in c.unexpected]
    print(f"{CLIENTS} clients on node1; primary killed (SIGKILL) after {acknowledged_before_kill} acknowledged "
          f"writes, the replica lagging; promoted {promoted['at'] - killed:.1f} s after the kill, node1 and "
          f"the user API reloaded (HUP) {reloaded - killed:.1f} s after it; clients unavailable "
          f"{outages[0]:.1f}-{outages[-1]:.1f} s; answers 503: {refused_before_kill} before the kill, "
          f"{sum(len(c.refused) for c in clients) - refused_before_kill} after it")
    if unexpected:
        print(f"answers neither 200 nor 503: {len(unexpected)}, first {unexpected[0]}")
    if missing:
        print(f"lost: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    print(f"acknowledged {acknowledged}, found {found}, lost {len(missing)}, unavailable {outages[-1]:.1f} s")
    return 0 if not missing and not unexpected else 1


def _still_receiving(server: dict) -> bool:
    with root(server) as conn:
        return receiving(conn)
