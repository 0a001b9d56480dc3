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
"""
from __future__ import annotations

import threading

from prometheus_client import Counter

SHED = Counter("syncstorage_requests_shed_total", "Requests refused at once because the worker was saturated")
BACKOFF_SENT = Counter("syncstorage_backoff_sent_total", "Responses that asked clients to back off under pressure")


class Admission:
    """Counts requests in flight in this worker; ``max_concurrent`` <= 0 disables the bound."""

    def __init__(self, max_concurrent: int, soft_fraction: float = 0.75, backoff_min: int = 60,
                 backoff_max: int = 1800):
        self.max_concurrent = max_concurrent
        self.soft_fraction = soft_fraction
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.in_flight = 0
        self._lock = threading.Lock()

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
        if not self.enabled:
            return None
        pressure = in_flight / self.max_concurrent
        if pressure < self.soft_fraction:
            return None
        span = max(1e-9, 1.0 - self.soft_fraction)
        share = min(1.0, (pressure - self.soft_fraction) / span)
        return int(self.backoff_min + share * (self.backoff_max - self.backoff_min))
