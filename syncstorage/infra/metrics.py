"""Metrics (prometheus_client), served at ``/__metrics__``.

Under gunicorn every worker is a process; with PROMETHEUS_MULTIPROC_DIR set
(``syncstorage serve`` sets it) the endpoint aggregates all of them.
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

CACHE_REQUESTS = Counter("syncstorage_cache_requests_total", "Cache lookups by kind and result (hit, miss, error)",
                         ["kind", "result"])
CACHE_ERRORS = Counter("syncstorage_cache_errors_total", "memcached operations that failed", ["operation"])
CACHE_EPOCH_BUMPS = Counter("syncstorage_cache_epoch_bumps_total",
                            "Times a process voided all entries after a memcached outage")
SQL_STATEMENTS = Counter("syncstorage_sql_statements_total", "SQL statements sent to the databases")
SQL_SECONDS = Histogram("syncstorage_sql_seconds", "Time a SQL statement takes, as the application sees it",
                        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0))
POOL_IN_USE = Gauge("syncstorage_db_connections_in_use", "Database connections checked out of the pools",
                    multiprocess_mode="livesum")
POOL_CAPACITY = Gauge("syncstorage_db_connections_max", "Connections the pools may open (pool_size + max_overflow)",
                      multiprocess_mode="livesum")

REQUESTS = Counter("syncstorage_requests_total", "Requests by route, method and status", ["route", "method", "status"])
REQUEST_SECONDS = Histogram("syncstorage_request_seconds", "Time to answer a request, by route", ["route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

QUEUE_SECONDS = Histogram("syncstorage_queue_seconds",
                          "Time between the front proxy receiving a request (X-Request-Start) and a worker taking it",
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))

_cache_children: dict[tuple[str, str], Counter] = {}
_request_children: dict[tuple, tuple] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (REQUESTS.labels(route, method, str(status)),
                                             REQUEST_SECONDS.labels(route))
    children[0].inc()
    children[1].observe(seconds)


def cache_request(kind: str, result: str):
    """The CACHE_REQUESTS child for (kind, result), bound once (labels() costs on the hot path)."""
    child = _cache_children.get((kind, result))
    if child is None:
        child = _cache_children[(kind, result)] = CACHE_REQUESTS.labels(kind, result)
    return child


def instrument_engine(engine, signals) -> None:
    """Count and time every statement the engine sends, and follow its pool's use;
    statement latency and pool use also feed ``signals`` (an overload.LoadSignals)."""
    import time

    from sqlalchemy import event

    def before(conn, _cursor, _statement, _parameters, _context, _executemany):
        SQL_STATEMENTS.inc()
        conn.info["syncstorage_started"] = time.perf_counter()

    def after(conn, _cursor, _statement, _parameters, _context, _executemany):
        started = conn.info.pop("syncstorage_started", None)
        if started is not None:
            seconds = time.perf_counter() - started
            SQL_SECONDS.observe(seconds)
            signals.observe_db(seconds)

    def checkout(*_args):
        signals.pool_in_use += 1
        POOL_IN_USE.inc()

    def checkin(*_args):
        signals.pool_in_use -= 1
        POOL_IN_USE.dec()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    capacity = getattr(engine.pool, "size", lambda: 0)() + max(0, getattr(engine.pool, "_max_overflow", 0))
    signals.pool_capacity += capacity
    POOL_CAPACITY.inc(capacity)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (of every worker in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def observe_queue(header: str | None, now: float) -> float | None:
    """Record the queueing time from nginx's ``X-Request-Start: t=<seconds.millis>``."""
    if not header:
        return None
    try:
        started = float(header.strip().removeprefix("t="))
    except ValueError:
        return None
    if started > 1e11:  # some proxies send milliseconds or microseconds
        started /= 1000.0 if started < 1e14 else 1e6
    waited = max(0.0, now - started)
    QUEUE_SECONDS.observe(waited)
    return waited
