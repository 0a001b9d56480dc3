"""Operational endpoints: health, load-balancer health, version, metrics."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, wait
from functools import lru_cache
from pathlib import Path

from webob import Response

from syncstorage import __version__
from syncstorage.infra import metrics
from syncstorage.gate.addresses import within
from syncstorage.wire.errors import NotFound, Overloaded, ServiceUnavailable

log = logging.getLogger("syncstorage")
HEARTBEAT_TIMEOUT = 3.0  # seconds a heartbeat waits for its checks; a slower backend counts as down
_checks_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="heartbeat")


def _cache_check(client) -> None:
    import pylibmc

    try:
        client.call("get", client.key("heartbeat"))
    except pylibmc.Error as error:
        raise RuntimeError(str(error)) from None


def health_checks(services) -> dict:
    """name -> check(); the cache is optional: its failure degrades, never fails, the node."""
    checks = {"users": services.userdb.check}
    if services.storage is not None:
        checks["storage"] = services.storage.check
    cache = services.cache_client
    if cache is not None:
        checks["cache"] = lambda: _cache_check(cache)
    return checks


def heartbeat(services, call) -> Response:
    """The databases (and memcached) checked at once, each bounded by HEARTBEAT_TIMEOUT.

    Spec §1.1: 200 with an empty text/plain body, 503 when a database fails.
    A monitor asking for ``Accept: application/json`` gets the detail:
    ``{"status": "ok"|"degraded"|"error", "checks": {name: "ok"|error}, "ms": {name: ms}}``.
    Error texts (which name hosts, users and databases) go only to the addresses
    trusted for /__metrics__ and to the log; everyone else reads "failed".
    """
    checks = health_checks(services)
    started = time.perf_counter()
    futures = {name: _checks_pool.submit(_timed, check) for name, check in checks.items()}
    wait(futures.values(), timeout=HEARTBEAT_TIMEOUT)
    results, ms = {}, {}
    for name, future in futures.items():
        if not future.done():
            results[name], ms[name] = f"timed out after {HEARTBEAT_TIMEOUT:g} s", round(
                (time.perf_counter() - started) * 1000)
            continue
        error, seconds = future.result()
        results[name], ms[name] = error or "ok", round(seconds * 1000, 1)
    failed = [name for name, result in results.items() if result != "ok"]
    status = "error" if set(failed) - {"cache"} else "degraded" if failed else "ok"
    detail = {"status": status, "checks": results, "ms": ms}
    if failed:
        log.warning("heartbeat: %s", "; ".join(f"{n}: {results[n]}" for n in failed))
        if not within(call.client, services.metrics_networks):
            results = {name: "ok" if result == "ok" else "failed" for name, result in results.items()}
            detail = {"status": status, "checks": results}
    if "application/json" in (call.req.accept.header_value or ""):
        body = json.dumps(detail).encode()
        resp = Response(body=body, status=503 if status == "error" else 200, content_type="application/json",
                        charset=None)
        if status == "error":
            resp.headers["Retry-After"] = str(services.settings.storage.retry_after)
        return resp
    if status == "error":
        raise ServiceUnavailable("server issue: " + "; ".join(f"{n}: {results[n]}" for n in failed),
                                 services.settings.storage.retry_after)
    return Response(body=b"", content_type="text/plain", charset=None)


def _timed(check) -> tuple[str | None, float]:
    started = time.perf_counter()
    try:
        check()
        return None, time.perf_counter() - started
    except Exception as error:  # reported, not raised: the heartbeat says which part failed
        return f"{type(error).__name__}: {error}"[:200], time.perf_counter() - started


def metrics_view(services, call) -> Response:
    """Prometheus exposition of every metric, for trusted addresses only."""
    if not within(call.client, services.metrics_networks):
        raise NotFound()
    body, content_type = metrics.render()
    resp = Response(body=body, charset=None)
    resp.headers["Content-Type"] = content_type
    return resp


def lbheartbeat(services, call) -> Response:
    """For the load balancer: 200 while this worker can take requests, 503 when saturated."""
    if services.admission.saturated:
        raise Overloaded(services.settings.overload.shed_retry_after)
    return Response(body=b"{}", content_type="application/json", charset=None)


@lru_cache(maxsize=1)
def source_commit() -> str:
    """The deployed commit: $SYNCSTORAGE_COMMIT, else the checkout's HEAD, else 'unknown'."""
    if os.environ.get("SYNCSTORAGE_COMMIT"):
        return os.environ["SYNCSTORAGE_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def version(services, call) -> Response:
    body = json.dumps({"name": "syncstorage", "version": __version__, "commit": source_commit()})
    return Response(body=body.encode(), content_type="application/json", charset=None)
