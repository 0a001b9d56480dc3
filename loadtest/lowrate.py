"""Server CPU per request at a low, steady rate and back to back, beside the trivial app.

    python -m loadtest.lowrate [--backend mysql|sqlite] [--gap-ms 50] [--requests 400]

One keep-alive connection sends a cached ``GET info/collections`` to the server
(gunicorn as ``make serve`` runs it, memcached in front), then ``GET /`` to the
trivial WSGI app under the same gunicorn settings: first with ``--gap-ms`` between
requests (a lightly loaded node: every request wakes sleeping threads), then back
to back.  The figure is the CPU of the gunicorn process tree (from /proc) per
request: what the trivial app costs is what any WSGI app costs under gunicorn at
that rate, so the difference is the application's own share.
"""
from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import time
from pathlib import Path

from loadtest import procstat, servers
from loadtest.services import Memcached, free_port


def per_request(pids: list[int], port: int, path: str, headers: dict, requests: int, gap: float) -> float:
    """Seconds of the processes' CPU per request, ``gap`` seconds apart."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(20):  # connection, pools and caches warm
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    before = procstat.usage(pids).cpu
    for _ in range(requests):
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
        if gap:
            time.sleep(gap)
    used = procstat.usage(pids).cpu - before
    conn.close()
    return used / requests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause between requests at the low rate")
    parser.add_argument("--requests", type=int, default=400, help="requests at the low rate (5x as many back to back)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="syncstorage-lowrate-"))
    memcached, mariadb, procs = Memcached().start(), None, []
    try:
        mariadb, url = servers.database(args.backend, "lowrate", tmp)
        env = servers.node_env(url, memcached.address)
        servers.migrate(env)
        app_port, trivial_port = free_port(), free_port()
        procs.append(servers.start_gunicorn(servers.APP, app_port, env, 2, 8, tmp / "server.log"))
        procs.append(servers.start_gunicorn(servers.TRIVIAL, trivial_port, {}, 2, 8, tmp / "trivial.log"))
        name = servers.create_account(f"http://127.0.0.1:{app_port}", "lowrate@example.com")
        auth = {"Authorization": f"Basic {servers.basic_token(name)}"}
        conn = http.client.HTTPConnection("127.0.0.1", app_port, timeout=30)
        conn.request("PUT", f"/1.1/{name}/storage/tabs/one", body='{"payload": "x"}',
                     headers={**auth, "Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
        print(f"backend={args.backend}+memcached, gunicorn 2 workers x 8 threads, one keep-alive connection")
        print("| request | every %g ms | back to back |" % args.gap_ms)
        print("|---|---:|---:|")
        for label, proc, port, path, headers in (
                ("cached GET info/collections", procs[0], app_port, f"/1.1/{name}/info/collections", auth),
                ("trivial WSGI app", procs[1], trivial_port, "/", {})):
            pids = procstat.tree(proc.pid)
            slow = per_request(pids, port, path, headers, args.requests, args.gap_ms / 1000)
            fast = per_request(pids, port, path, headers, args.requests * 5, 0.0)
            print(f"| {label} | {slow * 1e6:,.0f} µs | {fast * 1e6:,.0f} µs |")
            sys.stdout.flush()
    finally:
        servers.teardown(procs, mariadb, memcached, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
