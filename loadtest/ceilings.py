"""Single-endpoint ceilings with wrk, reported as ratios to a trivial WSGI app
measured under the same gunicorn settings in the same run.

    python -m loadtest.ceilings [--backend mysql|sqlite] [--driver pymysql|mysqlclient] [--memcached]
                                [--duration 10] [--connections 16] [--payload record|flat]
                                [--pairs 6] [--pair-seconds 3]

Everything runs on loopback: a throwaway MariaDB (for --backend mysql), the
server under gunicorn (gthread), the trivial app, and wrk.  Every run is bounded.

After the servers stop, the database's own figures for the two record paths
(loadtest/rawdb.py: 100-row upserts and 100-row range reads sent raw with PyMySQL,
same database and shards, as many processes and threads as the server has) are
printed beside the server's POST and GET records/s, with the ratios.  The upsert is
sent twice: with PyMySQL's string literals and with the server's
(syncstorage/infra/mysqlconn.py).  With ``--driver mysqlclient`` (the server on the C
driver) the upsert and the read are also sent with mysqlclient.  So is the app itself:
its GET and POST called in-process on as many processes and threads, with no HTTP
server (loadtest/inprocess.py), which splits each gap into the app's part and the
HTTP server's.  Payloads are record-shaped JSON, as clients send (``--payload flat``:
500 x "x", as figures before record-shaped payloads were measured).

Between the trivial app and the real endpoint sit the stack's floors
(loadtest/floor_app.py): Routes + WebOb alone and, with --memcached, plus the
one memcached round trip a cache hit makes.  They show how much of the gap is
the stack's and the cache's, and how much is the server's own work.

With --memcached, the cached info/collections and that floor are also measured in
``--pairs`` short alternating runs (``--pair-seconds`` each, in ABBA order, so that
a drift of the shared machine's speed weighs on both alike; right after the info
run, before the POST's write load keeps MariaDB busy for seconds), and the ratio is
given per pair, as their median and over all pairs: the one long run of each, a
minute apart, is at the mercy of whatever else the box runs in that minute.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from loadtest.services import DRIVERS, Memcached, free_port

from loadtest import inprocess, procstat, rawdb, servers

HERE = Path(__file__).resolve().parent
TRIVIAL = "trivial WSGI app"
FLOOR = "stack floor: Routes + WebOb"
FLOOR_CACHE = "stack floor + one memcached get_multi"
INFO = "GET info/collections"
POST = "POST 100 records (500 B)"
GET = "GET 100 full records"
RAW_UPSERT = "raw 100-row upserts"
RAW_UPSERT_LITERALS = "raw 100-row upserts, the server's string literals"
RAW_READ = "raw 100-row range reads"
RAW_UPSERT_C = "raw 100-row upserts, mysqlclient"
RAW_READ_C = "raw 100-row range reads, mysqlclient"
INPROCESS_POST = "the app's POST in-process, no HTTP server"
INPROCESS_GET = "the app's GET in-process, no HTTP server"
PAIRS = "alternated pairs"  # measure()'s (floor, server) requests/s of the alternated runs


def wrk(url: str, script: str, args: list[str], duration: int, connections: int, threads: int = 2) -> dict:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "-s",
           str(HERE / "wrk" / script), url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50": latency.get("50"), "p99": latency.get("99"),
            "non2xx": int(errors.group(1)) if errors else 0, "requests": int(requests.group(1)) if requests else 0}


def accounted(run, server: list[int] | None, shared: list[int]) -> dict:
    """``run()``'s wrk result with, when the server's pids are known, the CPU its processes
    and the ``shared`` ones (memcached, MariaDB) spent per request, and the server's
    context switches per request."""
    if server is None:
        return run()
    before, before_shared = procstat.usage(server), procstat.usage(shared)
    result = run()
    spent, spent_shared = procstat.usage(server) - before, procstat.usage(shared) - before_shared
    n = max(1, result["requests"])
    return {**result, "server_cpu_us": spent.cpu / n * 1e6, "server_switches": spent.switches / n,
            "shared_cpu_us": spent_shared.cpu / n * 1e6}


def measure(base: str, trivial_base: str, users: list[str], duration: int, connections: int,
            floors: dict[str, str] | None = None, pids: dict[str, list[int]] | None = None,
            shared: list[int] = (), payload: str = "x" * 500, pairs: int = 0, pair_seconds: int = 3) -> dict:
    """The ceilings; ``users`` are existing accounts with the load-test password, ``floors``
    maps a floor's label to its server's base URL.  With ``pids`` (scenario -> its
    server's processes) each result also says what the CPU went on (:func:`accounted`).
    With ``pairs`` and the floor with memcached, the cached info/collections and that floor
    are also run alternated (:func:`alternated`) right after the info run, before the record
    paths' write load leaves the database busy: their (floor, server) requests/s are under
    the key ``PAIRS``."""
    tokens = [servers.basic_token(name) for name in users]
    for _round in range(4):  # let every worker verify every account once (KDF) before measuring
        for name, token in zip(users, tokens):
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/1.1/{name}/storage/bookmarks/warm", data=b'{"payload": "x"}', method="PUT",
                headers={"Authorization": f"Basic {token}"}), timeout=30).read()
    # what the GET reads: the 100 records the POST run rewrites (written now, so that the GET
    # runs on a settled database, before the POST run's write load)
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/1.1/{users[0]}/storage/history", data=rawdb.post_body(payload), method="POST",
        headers={"Authorization": f"Basic {tokens[0]}"}), timeout=30).read()
    path = f"/1.1/{users[0]}/info/collections"
    scenarios = [(TRIVIAL, f"{trivial_base}/", "get.lua", [])]
    scenarios += [(label, floor + path, "get.lua", [tokens[0]]) for label, floor in (floors or {}).items()]
    scenarios += [(INFO, base + path, "get.lua", [tokens[0]]),
                  (GET, f"{base}/1.1/{users[0]}/storage/history?full=1", "get.lua", [tokens[0]]),
                  (POST, base, "post_batch.lua", [",".join(tokens), "100", payload])]
    runs = {}
    for label, url, script, script_args in scenarios:
        runs[label] = accounted(lambda: wrk(url, script, script_args, duration, connections),
                                (pids or {}).get(label), list(shared))
        if label == INFO and pairs > 0 and FLOOR_CACHE in (floors or {}):
            def requests_per_second(url):
                return lambda: wrk(url, "get.lua", [tokens[0]], pair_seconds, connections)["rps"]
            runs[PAIRS] = alternated(requests_per_second(floors[FLOOR_CACHE] + path),
                                     requests_per_second(base + path), pairs)
    return runs


def alternated(first, second, pairs: int) -> list[tuple[float, float]]:
    """``pairs`` (first, second) results of the two measurements, run in ABBA order
    (first, second, second, first, ...): a steady drift of the machine's speed
    during the pairs favours neither."""
    results = []
    for n in range(pairs):
        if n % 2 == 0:
            a = first()
            b = second()
        else:
            b = second()
            a = first()
        results.append((a, b))
    return results


def pairs_line(label: str, base_label: str, pairs: list[tuple[float, float]], seconds: int) -> str:
    """The ratio of ``label`` to ``base_label`` per alternated pair, their median, and over all."""
    median = statistics.median(b / a for a, b in pairs)
    overall = sum(b for _a, b in pairs) / sum(a for a, _b in pairs)
    return (f"{label} / {base_label}, {len(pairs)} alternated pairs of {seconds} s (ABBA): "
            f"{' '.join(f'{b / a:.2f}' for a, b in pairs)}; median {median:.2f}, over all pairs {overall:.2f}")


def table(runs: dict) -> list[str]:
    ceiling = runs[TRIVIAL]["rps"]
    accounted_runs = all("server_cpu_us" in r for r in runs.values())
    lines = ["| scenario | requests/s | ratio to trivial app | p50 | p99 | non-2xx |"
             + (" server CPU µs/request | server context switches/request | memcached + MariaDB CPU µs/request |"
                if accounted_runs else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if accounted_runs else "")]
    for scenario, r in runs.items():
        line = (f"| {scenario} | {r['rps']:.0f} | {r['rps'] / ceiling:.2f} | {r['p50']} | {r['p99']} | "
                f"{r['non2xx']} |")
        if accounted_runs:
            line += f" {r['server_cpu_us']:.0f} | {r['server_switches']:.1f} | {r['shared_cpu_us']:.0f} |"
        lines.append(line)
    lines.append(f"\nRecords written per second by POST: {runs[POST]['rps'] * 100:.0f}.")
    return lines


def against_raw(runs: dict, raw: dict) -> list[str]:
    """The server's records/s beside the database's own (loadtest/rawdb.py, same run), and a
    cached info/collections beside the floor with one memcached round trip."""
    lines = ["| path | server | baseline | ratio |", "|---|---:|---:|---:|"]
    for label, base_label in ((POST, RAW_UPSERT), (POST, RAW_UPSERT_LITERALS), (POST, RAW_UPSERT_C),
                              (POST, INPROCESS_POST), (GET, RAW_READ), (GET, RAW_READ_C), (GET, INPROCESS_GET)):
        if label in runs and base_label in raw:
            server = runs[label]["rps"] * 100
            lines.append(f"| {label} (records/s) | {server:,.0f} | {raw[base_label]:,.0f} ({base_label}) | "
                         f"{server / raw[base_label]:.2f} |")
    for label, base_label in ((INPROCESS_POST, RAW_UPSERT), (INPROCESS_POST, RAW_UPSERT_LITERALS),
                              (INPROCESS_GET, RAW_READ)):
        if label in raw and base_label in raw:
            lines.append(f"| {label} (records/s) | {raw[label]:,.0f} | {raw[base_label]:,.0f} ({base_label}) | "
                         f"{raw[label] / raw[base_label]:.2f} |")
    if INFO in runs and FLOOR_CACHE in runs:
        lines.append(f"| cached {INFO} (requests/s) | {runs[INFO]['rps']:,.0f} | {runs[FLOOR_CACHE]['rps']:,.0f} "
                     f"({FLOOR_CACHE}) | {runs[INFO]['rps'] / runs[FLOOR_CACHE]['rps']:.2f} |")
    return lines


def raw_baselines(url: str, users: list[str], seconds: int, workers: int, threads: int, payload: str,
                  c_driver: bool = False) -> dict:
    """Records/s of raw 100-row upserts (PyMySQL's literals, then the server's) and range
    reads on the server's database and shards, sent with PyMySQL; with ``c_driver``, both
    sent with mysqlclient too."""
    import sqlalchemy as sa

    from syncstorage.storage.sql import read_shard_count
    from syncstorage.users.sql import users_table

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    table = users_table(sa.MetaData())
    with engine.connect() as conn:
        userids = list(conn.execute(sa.select(table.c.userid).where(table.c.username.in_(users))).scalars())
    shards = read_shard_count(engine)
    engine.dispose()
    mysql = not url.startswith("sqlite")
    raw = {RAW_UPSERT: rawdb.throughput("upsert", url, shards, userids, seconds, workers, threads,
                                        payload=payload, driver="pymysql")}
    if mysql:
        raw[RAW_UPSERT_LITERALS] = rawdb.throughput("upsert", url, shards, userids, seconds, workers, threads,
                                                    payload=payload, server_literals=True, driver="pymysql")
    if mysql and c_driver:
        raw[RAW_UPSERT_C] = rawdb.throughput("upsert", url, shards, userids, seconds, workers, threads,
                                             payload=payload, driver="mysqlclient")
    raw[RAW_READ] = rawdb.throughput("read", url, shards, userids, seconds, workers, threads, driver="pymysql")
    if mysql and c_driver:
        raw[RAW_READ_C] = rawdb.throughput("read", url, shards, userids, seconds, workers, threads,
                                           driver="mysqlclient")
    return raw


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--memcached", action="store_true", help="put a throwaway memcached in front")
    parser.add_argument("--driver", choices=sorted(DRIVERS), default="pymysql",
                        help="the server's MariaDB driver (mysqlclient: the raw baselines are sent with both)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=16, help="accounts the POST run rotates over")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--payload", choices=("record", "flat"), default="record",
                        help="what the POST writes: record-shaped JSON (default) or flat text")
    parser.add_argument("--pairs", type=int, default=6,
                        help="alternated short runs of cached info/collections and its floor (with --memcached)")
    parser.add_argument("--pair-seconds", type=int, default=3, help="seconds of each alternated run")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--log-dir", default="loadtest/results/ceilings",
                        help="where the servers' logs go (default: an ignored folder, not the work tree)")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="syncstorage-ceilings-"))
    procs, mariadb, memcached = [], None, None
    try:
        mariadb, url = servers.database(args.backend, "ceilings", tmp, args.driver)
        if args.memcached:
            memcached = Memcached().start()
        env = servers.node_env(url, memcached.address if memcached else "")
        servers.migrate(env)
        app_port, trivial_port = free_port(), free_port()
        log_dir = Path(args.log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        procs.append(servers.start_gunicorn(servers.APP, app_port, env, args.workers, args.threads,
                                            log_dir / "app.log"))
        procs.append(servers.start_gunicorn(servers.TRIVIAL, trivial_port, {}, args.workers, args.threads,
                                            log_dir / "trivial.log"))
        floors = {FLOOR: {}}
        if memcached is not None:
            floors[FLOOR_CACHE] = {"FLOOR_CACHE_SERVERS": memcached.address}
        floor_bases = {}
        app_pids = procstat.tree(procs[0].pid)
        pids = {INFO: app_pids, GET: app_pids, POST: app_pids, TRIVIAL: procstat.tree(procs[1].pid)}
        for label, floor_env in floors.items():
            port = free_port()
            procs.append(servers.start_gunicorn(servers.FLOOR, port, floor_env, args.workers, args.threads,
                                                log_dir / f"floor{len(floor_bases)}.log"))
            floor_bases[label] = f"http://127.0.0.1:{port}"
            pids[label] = procstat.tree(procs[-1].pid)
        shared = [service.process.pid for service in (mariadb, memcached) if service is not None]
        base = f"http://127.0.0.1:{app_port}"
        users = [servers.create_account(base, f"ceiling{n}@example.com") for n in range(args.users)]
        payload = rawdb.PAYLOADS[args.payload]
        runs = measure(base, f"http://127.0.0.1:{trivial_port}", users, args.duration, args.connections,
                       floor_bases, pids, shared, payload, args.pairs, args.pair_seconds)
        info_pairs = runs.pop(PAIRS, [])
        for proc in procs:  # the raw clients get the CPU the servers had
            servers.stop(proc)
        procs = []
        # the app without the HTTP server, on the same processes x threads; before the raw
        # upserts, which add a record to the history the GET reads
        app_alone = {INPROCESS_GET: inprocess.throughput("get", env, users, args.duration, args.workers,
                                                         args.threads, payload),
                     INPROCESS_POST: inprocess.throughput("post", env, users, args.duration, args.workers,
                                                          args.threads, payload)}
        raw = {**raw_baselines(url, users, args.duration, args.workers, args.threads, payload,
                               c_driver=args.driver == "mysqlclient"), **app_alone}
    finally:
        servers.teardown(procs, mariadb, memcached, tmp)

    print(f"backend={args.backend}{'+memcached' if args.memcached else ''} "
          f"{'driver=' + args.driver + ' ' if args.backend == 'mysql' else ''}workers={args.workers} "
          f"threads={args.threads} payload={args.payload} "
          f"connections={args.connections} duration={args.duration}s")
    print("\n".join(table(runs)))
    print(f"\nThe database itself, same run ({args.workers} processes x {args.threads} threads of raw "
          f"{'PyMySQL (and mysqlclient where named)' if args.backend == 'mysql' else 'sqlite3'}, "
          f"{args.duration} s each):\n")
    print("\n".join(against_raw(runs, raw)))
    if info_pairs:
        print("\n" + pairs_line(f"cached {INFO}", FLOOR_CACHE, info_pairs, args.pair_seconds))
    if args.json:
        Path(args.json).write_text(json.dumps({"backend": args.backend, "runs": runs, "raw": raw,
                                               "info_floor_pairs": info_pairs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
