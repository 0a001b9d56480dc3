"""The app's own CPU for the hot paths, measured in-process, beside its baselines.

    python -m loadtest.hotpath [--backend mysql|sqlite] [--requests 20000] [--profile 25]
                               [--paths info,post,get]

No HTTP server and no load generator: the WSGI callable is called directly,
so the figures are the CPU the application adds to what gunicorn already
spends on a request.  Paths (memcached in front):

* ``info``: a cached ``GET info/collections``, beside the trivial app called the same way;
* ``post``: ``POST`` of 100 records of 500 B to history, beside the client CPU of the
  same 100-row upsert sent raw with the driver (loadtest/rawdb.py);
* ``get``: ``GET storage/history?full=1`` of those 100 records, beside the client CPU
  of the raw 100-row range read.

``--profile N`` adds the N functions that cost the most CPU (cProfile) on each path.

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

from loadtest import profiles, rawdb, trivial_app

LABELS = {"info": "cached GET info/collections", "post": "POST 100 records (500 B)",
          "get": "GET 100 full records"}


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
    parser.add_argument("--paths", default="info,post,get", help="which of info, post, get to measure")
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
        for collection in ("bookmarks", "forms", "tabs"):  # history: the 100 records of the POST path
            status, _ = call(app, environ_for("PUT", f"/1.1/{name}/storage/{collection}/one", token,
                                              b'{"payload": "x"}'))
            if not status.startswith("200"):
                raise SystemExit(f"PUT failed: {status}")
        path = f"/1.1/{name}/info/collections"
        status, body = call(app, environ_for("GET", path, token))
        if not status.startswith("200"):
            raise SystemExit(f"GET info/collections failed: {status} {body!r}")

        history = f"/1.1/{name}/storage/history"
        batch = json.dumps([{"id": f"rec{i:06d}", "sortindex": i, "payload": "x" * 500}
                            for i in range(100)]).encode()
        status, body = call(app, environ_for("POST", history, token, batch))
        if not status.startswith("200"):
            raise SystemExit(f"POST failed: {status} {body!r}")
        makers = {"info": lambda: environ_for("GET", path, token),
                  "post": lambda: environ_for("POST", history, token, batch),
                  "get": lambda: dict(environ_for("GET", history, token), QUERY_STRING="full=1")}
        status, body = call(app, makers["get"]())
        if not status.startswith("200") or len(json.loads(body)) != 100:
            raise SystemExit(f"GET failed: {status}")
        paths = [p for p in args.paths.split(",") if p]
        userid = app.services.userdb.get_user(name).userid
        shards = app.services.storage.store.shards if hasattr(app.services.storage, "store") \
            else app.services.storage.shards
        results = {}
        print(f"backend={args.backend}+memcached requests={args.requests} (CPU time of this process, best of 3)")
        for kind in paths:
            count = args.requests if kind == "info" else max(1, args.requests // 20)
            app_seconds = per_request(app, makers[kind], count)
            if kind == "info":
                base_label = "trivial WSGI app"
                base_seconds = per_request(trivial_app.application, lambda: environ_for("GET", "/"), count)
            else:
                base_label = "raw 100-row upsert" if kind == "post" else "raw 100-row range read"
                base_seconds = rawdb.client_cpu("upsert" if kind == "post" else "read", url, shards, userid,
                                                repeat=count)
            results[kind] = {"app_us": app_seconds * 1e6, "baseline_us": base_seconds * 1e6,
                             "baseline": base_label}
            comparison = "" if kind == "info" else f"   ratio {base_seconds / app_seconds:.2f}"
            print(f"{LABELS[kind] + ':':<29} {app_seconds * 1e6:9.1f} µs per request   "
                  f"{base_label}: {base_seconds * 1e6:.1f} µs{comparison}")
            if args.profile:
                profiler = cProfile.Profile(time.process_time)  # CPU, as the figures above
                envs = [makers[kind]() for _ in range(count)]
                profiler.enable()
                for e in envs:
                    call(app, e)
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
                print(out.getvalue())
        if args.json:
            legacy = results.get("info", {})
            Path(args.json).write_text(json.dumps({"backend": args.backend, "paths": results,
                                                   "app_us": legacy.get("app_us"),
                                                   "trivial_us": legacy.get("baseline_us")}, indent=2))
    finally:
        log.close()
        servers.teardown([], mariadb, memcached, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
