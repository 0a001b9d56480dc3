"""Write throughput of a semi-synchronous primary/replica pair, and of a three-server Galera
cluster, against a single server, same run.

    python -m loadtest.replication [--seconds 10] [--processes 2] [--threads 8] [--no-galera]

All are throwaway MariaDB servers on this box (loadtest/services.py), each migrated with the
storage schema and given 16 accounts' worth of user ids.  The load is loadtest/rawdb.py's
100-row upserts, the write a sync upload makes, from processes x threads clients, sent to one
server (the primary; for Galera the one a proxy would send a node's writes to).  While the pair
is loaded, the replica's lag is sampled every 0.5 s as transactions received but not yet applied.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

import pymysql.cursors

from loadtest import rawdb, servers
from loadtest.services import GaleraCluster, MariaDB, ReplicatedMariaDB


def _seq(gtid: str) -> int:
    """The sequence number of a single-domain GTID position ('0-1-42' -> 42)."""
    return int(gtid.split("-")[-1]) if gtid else 0


def lag_sampler(replica: MariaDB, stop: threading.Event, samples: list[int]) -> None:
    with replica.root_connection() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
        while not stop.wait(0.5):
            cur.execute("SHOW SLAVE STATUS")
            status = cur.fetchone()
            cur.execute("SELECT @@gtid_slave_pos AS applied")
            samples.append(_seq(status["Gtid_IO_Pos"]) - _seq(cur.fetchone()["applied"]))


def measure(url: str, seconds: float, processes: int, threads: int) -> float:
    env = servers.node_env(url)
    servers.migrate(env)
    return rawdb.throughput("upsert", url, 4, list(range(1, 17)), seconds, processes, threads,
                            payload=rawdb.PAYLOADS["flat"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-galera", dest="galera", action="store_false", help="skip the Galera cluster")
    args = parser.parse_args(argv)
    single = MariaDB().start()
    try:
        alone = measure(single.create_database("single"), args.seconds, args.processes, args.threads)
    finally:
        single.stop()
    pair = ReplicatedMariaDB().start()
    stop, samples = threading.Event(), []
    try:
        url = pair.create_database("pair")
        sampler = threading.Thread(target=lag_sampler, args=(pair.replica, stop, samples))
        sampler.start()
        paired = measure(url, args.seconds, args.processes, args.threads)
        stop.set()
        sampler.join()
    finally:
        stop.set()
        pair.stop()
    galera = conflicts = None
    if args.galera:
        cluster = GaleraCluster(3).start()
        try:
            galera = measure(cluster.create_database("galera"), args.seconds, args.processes, args.threads)
            conflicts = cluster.certification_failures()
        finally:
            cluster.stop()
    print(f"100-row upserts, {args.processes} processes x {args.threads} threads, {args.seconds:g} s each")
    print(f"single server:           {alone:,.0f} records/s")
    print(f"semi-synchronous pair:   {paired:,.0f} records/s  ({paired / alone:.2f} of the single server)")
    if galera is not None:
        print(f"Galera, 3 servers:       {galera:,.0f} records/s  ({galera / alone:.2f} of the single server; "
              f"{conflicts} certification failures)")
    if samples:
        print(f"replica lag (transactions received, not applied; every 0.5 s): median "
              f"{sorted(samples)[len(samples) // 2]}, max {max(samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
