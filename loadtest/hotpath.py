"""The app's own cost of one cached ``GET info/collections``, measured in-process.

    python -m loadtest.hotpath [--backend mysql|sqlite] [--requests 20000] [--profile 25]

No HTTP server and no load generator: the WSGI callable is called directly,
so the figure is the CPU the application adds to what gunicorn already spends
on a request (the trivial app of ``loadtest.ceilings``).  It is printed with
the same figure for the trivial app, called the same way, as a ratio.
``--profile N`` adds cProfile's N most expensive functions.

Throwaway MariaDB (for mysql) and memcached, as for the other benchmarks.
"""
from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import os

from loadtest import profiles, trivial_app


def environ_for(method: str, path: str, token: str | None = None, body: bytes = b"") -> dict:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000", "wsgi.url_scheme": "http",
           "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    if token:
        env["HTTP_AUTHORIZATION"] = f"Basic {token}"
    if body:
        env["CONTENT_TYPE"] = "application/json"
    return env


def call(app, env: dict) -> tuple[str, bytes]:
    status = []
    body = b"".join(app(env, lambda s, h, exc_info=None: status.append(s)))
    return status[0], body


def per_request(app, make_env, requests: int) -> float:
    """Seconds of this process's CPU per call (best of three rounds: the box is shared)."""
    best = float("inf")
    for _round in range(3):
        envs = [make_env() for _ in range(requests)]
        started = time.process_time()
        for env in envs:
            call(app, env)
        best = min(best, (time.process_time() - started) / requests)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="syncstorage-hotpath-"))
    # As under gunicorn (loadtest.servers): metrics in multiprocess files, the
    # request log line written; both are chosen when the modules are imported.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp)
    from syncstorage.web.app import make_app
    from syncstorage.infra.config import load_settings
    from loadtest.services import Memcached
    from syncstorage.infra.logs import configure_logging
    from syncstorage.users.names import username_from_account

    from loadtest import servers

    log = open(tmp / "server.log", "w")
    console, sys.stderr = sys.stderr, log  # the server's log handlers write to the file, as gunicorn's would
    try:
        configure_logging()
    finally:
        sys.stderr = console
    mariadb = None
    memcached = Memcached().start()
    try:
        mariadb, url = servers.database(args.backend, "hotpath", tmp)
        env = servers.node_env(url, memcached.address)
        servers.migrate(env)
        app = make_app(load_settings(environ=env))
        name = username_from_account("hotpath@example.com")
        status, body = call(app, environ_for("PUT", f"/user/1.0/{name}", body=json.dumps(
            {"email": "hotpath@example.com", "password": profiles.PASSWORD}).encode()))
        if not status.startswith("200"):
            raise SystemExit(f"account creation failed: {status} {body!r}")
        token = base64.b64encode(f"{name}:{profiles.PASSWORD}".encode()).decode()
        for collection in ("bookmarks", "history", "tabs"):
            status, _ = call(app, environ_for("PUT", f"/1.1/{name}/storage/{collection}/one", token,
                                              b'{"payload": "x"}'))
            if not status.startswith("200"):
                raise SystemExit(f"PUT failed: {status}")
        path = f"/1.1/{name}/info/collections"
        status, body = call(app, environ_for("GET", path, token))
        if not status.startswith("200"):
            raise SystemExit(f"GET info/collections failed: {status} {body!r}")

        def info():
            return environ_for("GET", path, token)

        app_seconds = per_request(app, info, args.requests)
        trivial_seconds = per_request(trivial_app.application, lambda: environ_for("GET", "/"), args.requests)
        print(f"backend={args.backend}+memcached requests={args.requests} (CPU time, best of 3)")
        print(f"cached GET info/collections: {app_seconds * 1e6:.1f} µs per request")
        print(f"trivial WSGI app:            {trivial_seconds * 1e6:.1f} µs per request")
        if args.profile:
            profiler = cProfile.Profile()
            envs = [info() for _ in range(args.requests)]
            profiler.enable()
            for e in envs:
                call(app, e)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
            print(out.getvalue())
        if args.json:
            Path(args.json).write_text(json.dumps({"backend": args.backend, "app_us": app_seconds * 1e6,
                                                   "trivial_us": trivial_seconds * 1e6}, indent=2))
    finally:
        log.close()
        servers.teardown([], mariadb, memcached, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
