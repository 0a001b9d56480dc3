"""The app's own CPU for the hot paths, measured in-process, beside its baselines.

    python -m loadtest.hotpath [--backend mysql|sqlite] [--driver pymysql|mysqlclient] [--requests 20000]
                               [--profile 25] [--paths info,post,get,unchanged] [--payload record|flat]
                               [--instructions]

No HTTP server and no load generator: the WSGI callable is called directly,
so the figures are the CPU the application adds to what gunicorn already
spends on a request.  Paths (memcached in front):

* ``info``: a cached ``GET info/collections``, beside the trivial app called the same way and
  the stack's floor with its one memcached round trip (loadtest/floor_app.py);
* ``post``: ``POST`` of 100 records of 500 B to history, beside the client CPU of the
  same 100-row upsert sent raw with the driver (loadtest/rawdb.py), with PyMySQL's own
  string literals and with the server's;
* ``get``: ``GET storage/history?full=1`` of those 100 records, beside the client CPU
  of the raw 100-row range read;
* ``unchanged``: ``GET storage/history?full=1&newer=<its last change>``, a client asking
  what changed since its last sync of a collection that did not change, beside the
  baselines of ``info`` (the cached entry answers it, as it answers info/collections).

The raw baselines are sent with PyMySQL; with ``--driver mysqlclient`` (the server on
the C driver, syncstorage/infra/mysqlclient.py) also with mysqlclient.

Payloads are record-shaped JSON, as clients send (``--payload flat``: 500 x "x", as
the figures before record-shaped payloads were measured).

``--profile N`` adds the N functions that cost the most CPU (cProfile) on each path.

``--instructions`` counts instructions instead of CPU seconds: each path and each
baseline runs in a child process under valgrind's callgrind, which counts only the
measured calls (they run through ``itertools.starmap``, and collection is on only
inside its C function ``starmap_next``).  Counts do not depend on what else the
machine runs, so a change is measured on a shared box by comparing counts; about a
minute per child.  ``--requests`` is then the number of measured calls (10 is plenty).

``--syscalls`` counts the system calls each call makes in the measuring thread
(``strace -c`` attached to that thread alone), per path and baseline: the polls,
reads and writes a request costs, which a noisy box measures exactly.

Throwaway MariaDB (for mysql) and memcached, as for the other benchmarks.
"""
from __future__ import annotations

import argparse
import base64
import collections
import cProfile
import io
import itertools
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from loadtest import profiles, rawdb, trivial_app
from loadtest.floor_app import make_floor_app
from loadtest.services import DRIVERS

LABELS = {"info": "cached GET info/collections", "post": "POST 100 records (500 B)",
          "get": "GET 100 full records", "unchanged": "GET history?newer= (nothing newer)"}
# path -> its baselines: (--measure side, label, rawdb.operation options)
BASELINES = {"post": [("baseline", "raw 100-row upsert", {"driver": "pymysql"}),
                      ("baseline-literals", "raw 100-row upsert with the server's literals",
                       {"server_literals": True, "driver": "pymysql"})],
             "get": [("baseline", "raw 100-row range read", {"driver": "pymysql"})],
             "info": [("baseline", "trivial WSGI app", {}),
                      ("floor", "stack floor + one memcached get_multi (loadtest/floor_app.py)", {})]}
# with the server on the C driver, its raw baselines too
C_BASELINES = {"post": [("baseline-c", "raw 100-row upsert, mysqlclient", {"driver": "mysqlclient"})],
               "get": [("baseline-c", "raw 100-row range read, mysqlclient", {"driver": "mysqlclient"})],
               "info": []}
# paths whose baselines are WSGI apps called the same way (the others': raw database operations)
APP_BASELINED = ("info", "unchanged")
BASELINES["unchanged"], C_BASELINES["unchanged"] = BASELINES["info"], C_BASELINES["info"]


def baselines(kind: str, driver: str) -> list[tuple[str, str, dict]]:
    """The baselines of path ``kind`` with the server on MariaDB ``driver``."""
    return BASELINES[kind] + (C_BASELINES[kind] if driver == "mysqlclient" else [])


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


def log_to(path: Path):
    """The server's log handlers (infra/logs.configure_logging) set up to write to ``path``,
    as a gunicorn worker's write to its log file; returns the open file, to close when done.
    Call it after PROMETHEUS_MULTIPROC_DIR is set: the modules it imports read it."""
    from syncstorage.infra.logs import configure_logging

    log = open(path, "w")
    console, sys.stderr = sys.stderr, log
    try:
        configure_logging()
    finally:
        sys.stderr = console
    return log


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


def run_measured(calls) -> None:
    """Run ``calls`` (a list of (function, args...) tuples) through itertools.starmap: under
    ``--toggle-collect=starmap_next`` callgrind counts these calls and nothing else."""
    collections.deque(itertools.starmap(lambda fn, *args: fn(*args), calls), maxlen=0)


def count_instructions(argv: list[str], requests: int, paths: list[str], driver: str) -> int:
    """Instructions per call of every path and baseline, each in a child under callgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    tmp = Path(tempfile.mkdtemp(prefix="syncstorage-instructions-"))
    try:
        print(f"instructions per call (callgrind, {requests} measured calls each)")
        for kind in paths:
            children = {}
            for side in ["app"] + [side for side, _label, _options in baselines(kind, driver)]:  # at once: counts
                # do not depend on it
                log = tmp / f"{kind}-{side}.log"
                child = [valgrind, "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=starmap_next",
                         f"--callgrind-out-file={tmp / f'{kind}-{side}.out'}", f"--log-file={log}",
                         sys.executable, "-m", "loadtest.hotpath", *argv, "--paths", kind,
                         "--measure", side, "--requests", str(requests)]
                env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
                children[side] = (subprocess.Popen(child, env=env, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.PIPE, text=True), log)
            counts = {}
            for side, (proc, log) in children.items():
                _out, err = proc.communicate(timeout=1800)
                found = re.search(r"Collected : (\d+)", log.read_text()) if log.exists() else None
                if proc.returncode != 0 or found is None:
                    raise SystemExit(f"the {kind} {side} child failed: {err[-2000:]}")
                counts[side] = int(found.group(1)) / requests
            print(f"{LABELS[kind] + ':':<29} {counts['app']:12,.0f} per request")
            for side, label, _options in baselines(kind, driver):
                print(f"{'':<31}{label}: {counts[side]:,.0f}   ratio {counts[side] / counts['app']:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def count_syscalls(run, calls: int, workdir: Path) -> dict[str, float]:
    """System calls per call that ``run()`` (making ``calls`` calls) makes in this thread,
    by name: ``strace -c`` attached to this thread alone, so the other threads' (metrics
    and log flushes) do not count."""
    strace = shutil.which("strace")
    if strace is None:
        raise SystemExit("strace is not installed (apt-get install strace)")
    out = workdir / "strace.txt"
    tracer = subprocess.Popen([strace, "-c", "-p", str(threading.get_native_id()), "-o", str(out)],
                              stderr=subprocess.PIPE, text=True)
    said = tracer.stderr.readline()  # "... attached": from here on this thread's calls count
    if tracer.poll() is not None or "attached" not in said:
        tracer.wait()
        raise SystemExit(f"strace could not attach: {said.strip()}")
    try:
        run()
    finally:
        tracer.terminate()  # strace detaches and writes its table (its kill and wait4 count: ~0.01 per call)
        tracer.wait(timeout=60)
    return {name: count / calls for name, count in parse_strace_table(out.read_text()).items()}


def raw_syscalls(kind: str, url: str, shards: int, userid: int, payload: str, options: dict, calls: int,
                 workdir: Path) -> dict[str, float]:
    """:func:`count_syscalls` of the raw operation behind ``kind`` (its connection closed on return)."""
    op = rawdb.operation("upsert" if kind == "post" else "read", url, shards, userid, payload, **options)
    op()
    return count_syscalls(lambda: [op() for _ in range(calls)], calls, workdir)


def parse_strace_table(text: str) -> dict[str, int]:
    """Calls per system call from ``strace -c``'s table (% time, seconds, usecs/call, calls,
    [errors,] syscall), without its total line."""
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) in (5, 6) and fields[3].isdigit() and fields[-1] != "total":
            try:
                float(fields[0])
            except ValueError:
                continue
            counts[fields[-1]] = int(fields[3])
    return counts


def syscalls_line(label: str, counts: dict[str, float]) -> str:
    shown = ", ".join(f"{name} {n:.1f}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= 0.05)
    return f"{label}: {sum(counts.values()):.1f} system calls per call ({shown})"


def child_arguments(argv: list[str]) -> list[str]:
    """The command line of --instructions, less what each child is given itself."""
    kept, skip_value = [], False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif arg in ("--paths", "--requests"):
            skip_value = True
        elif arg != "--instructions" and not arg.startswith(("--paths=", "--requests=")):
            kept.append(arg)
    return kept


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--paths", default="info,post,get,unchanged",
                        help="which of info, post, get, unchanged to measure")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--syscalls", action="store_true", help="count system calls per call (strace)")
    parser.add_argument("--payload", choices=sorted(rawdb.PAYLOADS), default="record",
                        help="what the POST writes: record-shaped JSON (default) or flat text")
    parser.add_argument("--driver", choices=sorted(DRIVERS), default="pymysql",
                        help="the server's MariaDB driver (mysqlclient: the raw baselines are measured with both)")
    parser.add_argument("--measure", choices=("app", "baseline", "baseline-literals", "baseline-c", "floor"),
                        help=argparse.SUPPRESS)  # a child's part
    args = parser.parse_args(argv)
    if args.instructions:
        return count_instructions(child_arguments(argv), args.requests, [p for p in args.paths.split(",") if p],
                                  args.driver)

    tmp = Path(tempfile.mkdtemp(prefix="syncstorage-hotpath-"))
    # As under gunicorn (loadtest.servers): metrics in multiprocess files, the
    # request log line written; both are chosen when the modules are imported.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp)
    from syncstorage.web.app import make_app
    from syncstorage.infra.config import load_settings
    if args.measure:
        # Under callgrind a request runs some 50 times slower, so every pooled connection
        # would look idle and be pinged; at real speed one in steady use is not.
        from syncstorage.infra import dbengine
        dbengine.IDLE_PING_SECONDS = float("inf")
    from loadtest.services import Memcached
    from syncstorage.users.names import username_from_account

    from loadtest import servers

    log = log_to(tmp / "server.log")
    mariadb = None
    memcached = Memcached().start()
    try:
        mariadb, url = servers.database(args.backend, "hotpath", tmp, args.driver)
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
        payload = rawdb.PAYLOADS[args.payload]
        batch = rawdb.post_body(payload)
        status, body = call(app, environ_for("POST", history, token, batch))
        if not status.startswith("200"):
            raise SystemExit(f"POST failed: {status} {body!r}")
        _status, body = call(app, environ_for("GET", path, token))
        newer = f"full=1&newer={json.loads(body)['history']:.2f}"
        makers = {"info": lambda: environ_for("GET", path, token),
                  "post": lambda: environ_for("POST", history, token, batch),
                  "get": lambda: dict(environ_for("GET", history, token), QUERY_STRING="full=1"),
                  "unchanged": lambda: dict(environ_for("GET", history, token), QUERY_STRING=newer)}
        status, body = call(app, makers["get"]())
        if not status.startswith("200") or len(json.loads(body)) != 100:
            raise SystemExit(f"GET failed: {status}")
        status, body = call(app, makers["unchanged"]())
        if not status.startswith("200") or json.loads(body) != []:
            raise SystemExit(f"GET newer= failed: {status} {body!r}")
        paths = [p for p in args.paths.split(",") if p]
        userid = app.services.userdb.get_user(name).userid
        shards = app.services.storage.store.shards if hasattr(app.services.storage, "store") \
            else app.services.storage.shards
        # the baselines of APP_BASELINED paths: (WSGI app, environ maker)
        app_baselines = {"baseline": (trivial_app.application, lambda: environ_for("GET", "/")),
                         "floor": (make_floor_app([memcached.address]), makers["info"])}
        if args.measure:  # a child of --instructions: one path or its baseline, then nothing else
            kind = paths[0]
            for _warm in range(3):  # pools, caches and verified credentials as in steady state
                call(app, makers[kind]())
            if args.measure == "app":
                calls = [(call, app, makers[kind]()) for _ in range(args.requests)]
            elif kind in APP_BASELINED:
                baseline_app, baseline_env = app_baselines[args.measure]
                for _warm in range(3):  # the floor's entries stored, its connection open
                    call(baseline_app, baseline_env())
                calls = [(call, baseline_app, baseline_env()) for _ in range(args.requests)]
            else:
                options = next(options for side, _label, options in baselines(kind, args.driver)
                               if side == args.measure)
                op = rawdb.operation("upsert" if kind == "post" else "read", url, shards, userid, payload, **options)
                op()
                calls = [(op,) for _ in range(args.requests)]
            run_measured(calls)
            return 0
        if args.syscalls:
            calls = min(args.requests, 500)
            print(f"backend={args.backend}+memcached: system calls of the measuring thread, {calls} calls each")
            for kind in paths:
                runs = [(LABELS[kind], app, makers[kind])]
                if kind in APP_BASELINED:
                    runs += [(label, *app_baselines[side]) for side, label, _options in baselines(kind, args.driver)]
                for label, wsgi_app, make_env in runs:
                    for _warm in range(20):
                        call(wsgi_app, make_env())
                    envs = [make_env() for _ in range(calls)]
                    counts = count_syscalls(lambda: [call(wsgi_app, e) for e in envs], calls, tmp)
                    print(syscalls_line(label, counts))
                for _side, label, options in baselines(kind, args.driver) if kind not in APP_BASELINED else ():
                    print(syscalls_line("  " + label, raw_syscalls(kind, url, shards, userid, payload, options,
                                                                    calls, tmp)))
            return 0
        results = {}
        print(f"backend={args.backend}+memcached requests={args.requests} (CPU time of this process, best of 3)")
        for kind in paths:
            count = args.requests if kind in APP_BASELINED else max(1, args.requests // 20)
            app_seconds = per_request(app, makers[kind], count)
            print(f"{LABELS[kind] + ':':<29} {app_seconds * 1e6:9.1f} µs per request")
            measured = {}
            for side, label, options in baselines(kind, args.driver):
                if kind in APP_BASELINED:
                    seconds = per_request(*app_baselines[side], count)
                else:
                    seconds = rawdb.client_cpu("upsert" if kind == "post" else "read", url, shards, userid,
                                               repeat=count, payload=payload, **options)
                measured[label] = seconds * 1e6
                trivial = side == "baseline" and kind in APP_BASELINED  # no ratio to a do-nothing app
                comparison = "" if trivial else f"   ratio {seconds / app_seconds:.2f}"
                print(f"{'':<31}{label}: {seconds * 1e6:.1f} µs{comparison}")
            first = baselines(kind, args.driver)[0][1]
            results[kind] = {"app_us": app_seconds * 1e6, "baseline_us": measured[first], "baseline": first,
                             "baselines_us": measured}
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
