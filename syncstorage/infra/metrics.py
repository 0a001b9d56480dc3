"""Metrics (prometheus_client), served at ``/__metrics__``.

Under gunicorn every worker is a process; with PROMETHEUS_MULTIPROC_DIR set
(``syncstorage serve`` sets it) the endpoint aggregates all of them.

What every request and statement records is gathered in this process first
(:data:`PENDING`) and added to the prometheus values once per child every
:data:`FLUSH_SECONDS`: in multiprocess mode each increment of a value is a
lock and a write into its memory-mapped file, and a cached request made five
of them.  A scrape sees this worker's figures at once (:func:`render` flushes
first) and the other workers' as of their last flush, at most a second old.
"""
from __future__ import annotations

import atexit
import bisect
import os
import threading
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from syncstorage.infra.forks import reset_in_child

CACHE_REQUESTS = Counter("syncstorage_cache_requests_total", "Cache lookups by kind and result (hit, miss, error)",
                         ["kind", "result"])
CACHE_ERRORS = Counter("syncstorage_cache_errors_total", "memcached operations that failed", ["operation"])
CACHE_EPOCH_BUMPS = Counter("syncstorage_cache_epoch_bumps_total",
                            "Times a process voided all entries after a memcached outage")
CACHE_ENTRIES_VOIDED = Counter("syncstorage_cache_entries_voided_total",
                               "Entries a process voided after memcached failed during their write")
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

FLUSH_SECONDS = 1.0


class Pending:
    """Counter (and gauge) increments and histogram observations not yet added to
    their prometheus values.  :meth:`flush` adds them, one increment per value: a
    thread of this process does so every ``interval`` seconds, :func:`render`
    before it reads, and the process at exit."""

    def __init__(self, interval: float = FLUSH_SECONDS):
        self.interval = interval
        self._reset()
        # a gunicorn worker starts empty: what the parent holds is the parent's to add,
        # and the parent's flushing thread is not the child's
        reset_in_child(self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict = {}  # Counter or Gauge child -> amount
        self._observed: dict = {}  # Histogram child -> [sum, count per bucket]
        self._pid: int | None = None  # the process whose flushing thread runs

    def _start(self) -> None:  # under self._lock
        self._pid = os.getpid()
        threading.Thread(target=self._flush_periodically, daemon=True, name="metrics-flush").start()

    def count(self, child, amount: float = 1) -> None:
        """``child.inc(amount)``, deferred."""
        with self._lock:
            if self._pid is None:
                self._start()
            self._counts[child] = self._counts.get(child, 0) + amount

    def observe(self, child, value: float) -> None:
        """``child.observe(value)``, deferred: the value lands in the same bucket (the
        first whose upper bound is at least the value)."""
        bucket = bisect.bisect_left(child._upper_bounds, value)
        with self._lock:
            if self._pid is None:
                self._start()
            entry = self._observed.get(child)
            if entry is None:
                entry = self._observed[child] = [0.0, [0] * len(child._upper_bounds)]
            entry[0] += value
            entry[1][bucket] += 1

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
        for child, amount in counts.items():
            if amount:  # a gauge's ups and downs may cancel out
                child.inc(amount)
        for child, (total, buckets) in observed.items():
            child._sum.inc(total)
            for value, count in zip(child._buckets, buckets):
                if count:
                    value.inc(count)

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()


PENDING = Pending()
atexit.register(PENDING.flush)

_cache_children: dict[tuple[str, str], Counter] = {}
_request_children: dict[tuple, tuple] = {}


# Methods are labelled by name only when HTTP defines them: a client may send any token as a
# method, and each new label value would be a new series (and memory) for good.
LABELLED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"})


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    if method not in LABELLED_METHODS:
        method = "other"
    key = (route, method, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (REQUESTS.labels(route, method, str(status)),
                                             REQUEST_SECONDS.labels(route))
    PENDING.count(children[0])
    PENDING.observe(children[1], seconds)


def count_cache_request(kind: str, result: str) -> None:
    """One cache lookup of ``kind`` with ``result`` (hit, miss, error)."""
    child = _cache_children.get((kind, result))
    if child is None:  # labels() costs on the hot path: bound once
        child = _cache_children[(kind, result)] = CACHE_REQUESTS.labels(kind, result)
    PENDING.count(child)


def instrument_engine(engine, signals) -> None:
    """Count and time every statement the engine sends, and follow its pool's use;
    statement latency and pool use also feed ``signals`` (an overload.LoadSignals)."""
    from sqlalchemy import event

    def before(conn, _cursor, _statement, _parameters, _context, _executemany):
        PENDING.count(SQL_STATEMENTS)
        conn.info["syncstorage_started"] = time.perf_counter()

    def after(conn, _cursor, _statement, _parameters, _context, _executemany):
        started = conn.info.pop("syncstorage_started", None)
        if started is not None:
            seconds = time.perf_counter() - started
            PENDING.observe(SQL_SECONDS, seconds)
            signals.observe_db(seconds)

    def checkout(*_args):
        signals.pool_in_use += 1
        PENDING.count(POOL_IN_USE)

    def checkin(*_args):
        signals.pool_in_use -= 1
        PENDING.count(POOL_IN_USE, -1)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    capacity = getattr(engine.pool, "size", lambda: 0)() + max(0, getattr(engine.pool, "_max_overflow", 0))
    signals.pool_capacity += capacity
    POOL_CAPACITY.inc(capacity)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (of every worker in multiprocess mode)."""
    PENDING.flush()
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
    PENDING.observe(QUEUE_SECONDS, waited)
    return waited
