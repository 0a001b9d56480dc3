"""The server's GET and POST of 100 records called in-process, with no HTTP server: what
the app itself reaches with as many processes and threads as gunicorn runs it with.

Between the raw database's figures (loadtest/rawdb.py) and the server's under wrk it
splits the gap in two: raw -> in-process is the app's own work (authentication, the
cache, SQL through SQLAlchemy, JSON), in-process -> server is the HTTP server's
(gunicorn's gthread worker, the hand-offs between its threads, the sockets).  Each
process builds the app as a gunicorn worker does (its settings from the same
environment, the request log line written, metrics in multiprocess files), then its
threads call it for ``seconds`` from when all of them are ready.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path

from loadtest import rawdb, servers
from loadtest.hotpath import call, environ_for, log_to

KINDS = ("get", "post")


def request_maker(kind: str, user: str, payload: str):
    """A function returning a fresh WSGI environ for one ``kind`` request of ``user``."""
    token = servers.basic_token(user)
    path = f"/1.1/{user}/storage/history"
    if kind == "get":
        return lambda: dict(environ_for("GET", path, token), QUERY_STRING="full=1")
    body = rawdb.post_body(payload)
    return lambda: environ_for("POST", path, token, body)


def _worker(kind: str, env: dict, users: list[str], seconds: float, threads: int, payload: str, queue) -> None:
    """One process: the app, and ``threads`` threads calling it; puts (records, failures)."""
    os.environ.update(env)  # read when the app's modules are imported (metrics) and its settings built
    from syncstorage.infra.config import load_settings
    from syncstorage.web.app import make_app

    log = log_to(Path(env["PROMETHEUS_MULTIPROC_DIR"]) / f"app-{os.getpid()}.log")  # the request lines
    app = make_app(load_settings(environ=env))
    done, failed = [0] * threads, [0] * threads
    ready = threading.Barrier(threads)

    def loop(slot: int) -> None:
        make = request_maker(kind, users[slot % len(users)], payload)
        status, body = call(app, make())  # credentials verified, connections open
        if not status.startswith("200") or (kind == "get" and len(json.loads(body)) != rawdb.RECORDS):
            failed[slot] += 1  # a GET of fewer records would be counted as 100
        ready.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not failed[slot]:
            status, _body = call(app, make())
            if status.startswith("200"):
                done[slot] += rawdb.RECORDS
            else:
                failed[slot] += 1

    runners = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    log.close()
    queue.put((sum(done), sum(failed)))


def throughput(kind: str, env: dict, users: list[str], seconds: float, processes: int = 2, threads: int = 8,
               payload: str = rawdb.PAYLOADS["record"]) -> float:
    """Records/s of ``kind`` ('get': users[0]'s 100 records of history, full; 'post': 100
    records, rotating over ``users``) from ``processes`` x ``threads``, the app built from
    ``env`` (servers.node_env) in each process.  ``users`` exist with the load-test
    password; for 'get', users[0] holds 100 records of history.  A request answered
    other than 200, or a first GET without 100 records, fails the measurement."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="syncstorage-inprocess-") as metrics:
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics}
        shares = [users[:1] if kind == "get" else users[p::processes] or users for p in range(processes)]
        procs = [ctx.Process(target=_worker, args=(kind, env, share, seconds, threads, payload, queue))
                 for share in shares]
        for p in procs:
            p.start()
        try:
            results = [queue.get(timeout=seconds + 120) for _ in procs]  # a process that died says nothing
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()
    failed = sum(f for _done, f in results)
    if failed:
        raise RuntimeError(f"{failed} in-process {kind} requests failed (not 200, or a GET without {rawdb.RECORDS} "
                           "records)")
    return sum(d for d, _failed in results) / seconds
