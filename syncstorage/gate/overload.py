"""Admission control and load-aware backoff, per worker (design §6).

A worker admits at most ``[overload] max_concurrent`` requests at once.
Past that, a request is refused at once -- 503 with Retry-After and
X-Weave-Backoff, without touching the database -- instead of queueing into
time-outs.  Between ``soft_fraction`` of the limit and the limit, successful
responses carry ``X-Weave-Backoff: N`` with N growing linearly from
``backoff_min`` to ``backoff_max`` with the pressure, so clients spread their
next syncs before anything fails.  Run gunicorn with more threads than
``max_concurrent`` so that excess requests reach a thread and are refused
quickly rather than waiting in the accept queue.

Pressure is the highest of four signals of this worker (:class:`LoadSignals`),
each scaled to 0 at its soft threshold and 1 at its hard one: requests in
flight, database connections in use, recent SQL statement latency and recent
queue time (nginx's X-Request-Start).  A request that already waited longer
than ``max_queue_wait`` before a worker took it is refused at once too: its
client has most likely given up, and serving it would only delay the others.
"""
from __future__ import annotations

import threading

from prometheus_client import Counter

SHED = Counter("syncstorage_requests_shed_total", "Requests refused at once because the worker was saturated")
BACKOFF_SENT = Counter("syncstorage_backoff_sent_total", "Responses that asked clients to back off under pressure")


EWMA_WEIGHT = 0.1  # weight of the newest observation in the recent averages (about the last 10)


class LoadSignals:
    """An app's recent database latency, queue time and connection use.

    Fed by its engines' events (metrics.instrument_engine) and by the app for
    queue time; read by :class:`Admission`.  Plain floats: a lost update under a
    race only perturbs an average.
    """

    def __init__(self):
        self.db_latency = 0.0   # exponentially weighted, seconds per SQL statement
        self.queue_wait = 0.0   # exponentially weighted, seconds
        self.pool_in_use = 0
        self.pool_capacity = 0

    def observe_db(self, seconds: float) -> None:
        self.db_latency += EWMA_WEIGHT * (seconds - self.db_latency)

    def observe_queue(self, seconds: float) -> None:
        self.queue_wait += EWMA_WEIGHT * (seconds - self.queue_wait)

    @property
    def pool_fraction(self) -> float:
        return self.pool_in_use / self.pool_capacity if self.pool_capacity else 0.0


def _share(value: float, soft: float, hard: float) -> float | None:
    """0..1 between ``soft`` and ``hard``; None below soft (or when the signal is off)."""
    if soft <= 0 or value < soft:
        return None
    return min(1.0, (value - soft) / max(1e-9, hard - soft))


class Admission:
    """Counts requests in flight in this worker; ``max_concurrent`` <= 0 disables the bound.

    ``db_latency_soft`` / ``queue_soft`` (seconds, 0 = off) are the soft thresholds of
    those signals; their hard ends are 4x that.  The pool's thresholds are those of
    the concurrency bound (``soft_fraction`` of it, and all of it).
    """

    def __init__(self, max_concurrent: int, soft_fraction: float = 0.75, backoff_min: int = 60,
                 backoff_max: int = 1800, *, db_latency_soft: float = 0.0, queue_soft: float = 0.0,
                 max_queue_wait: float = 0.0, signals: LoadSignals | None = None):
        self.max_concurrent = max_concurrent
        self.soft_fraction = soft_fraction
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.db_latency_soft = db_latency_soft
        self.queue_soft = queue_soft
        self.max_queue_wait = max_queue_wait
        self.signals = signals if signals is not None else LoadSignals()
        self.in_flight = 0
        self._lock = threading.Lock()

    def too_late(self, queue_wait: float | None) -> bool:
        """True when a request waited longer than ``max_queue_wait`` before reaching us."""
        return self.max_queue_wait > 0 and queue_wait is not None and queue_wait > self.max_queue_wait

    def pressure(self, in_flight: int) -> float | None:
        """The highest signal share (0..1), or None when every signal is below its soft threshold."""
        s = self.signals
        soft = self.soft_fraction
        # The usual answer, as _share decides it, without building the shares: every request asks.
        if (soft <= 0 or (s.pool_fraction < soft and (not self.enabled or in_flight / self.max_concurrent < soft))) \
                and (self.db_latency_soft <= 0 or s.db_latency < self.db_latency_soft) \
                and (self.queue_soft <= 0 or s.queue_wait < self.queue_soft):
            return None
        shares = [_share(s.pool_fraction, self.soft_fraction, 1.0),
                  _share(s.db_latency, self.db_latency_soft, 4 * self.db_latency_soft),
                  _share(s.queue_wait, self.queue_soft, 4 * self.queue_soft)]
        if self.enabled:
            shares.append(_share(in_flight / self.max_concurrent, self.soft_fraction, 1.0))
        shares = [x for x in shares if x is not None]
        return max(shares) if shares else None

    @property
    def enabled(self) -> bool:
        return self.max_concurrent > 0

    def enter(self) -> bool:
        """Admit one request (True), or refuse it because the worker is full (False)."""
        with self._lock:
            if self.enabled and self.in_flight >= self.max_concurrent:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def saturated(self) -> bool:
        return self.enabled and self.in_flight >= self.max_concurrent

    def backoff(self, in_flight: int) -> int | None:
        """Seconds of X-Weave-Backoff for a request admitted with ``in_flight`` requests running."""
        share = self.pressure(in_flight)
        if share is None:
            return None
        return round(self.backoff_min + share * (self.backoff_max - self.backoff_min))
