"""Per-second log of sync sessions, sheds and backoffs, beside Locust's own CSV.

Locust's stats history gives request rates and latency percentiles; sessions
are not requests, so they are counted here: one CSV row per second with the
user count, sessions completed and cut short, their median and 95th
percentile duration, how many responses shed load (503) or asked for
backoff, the 99th percentile latency of admitted requests and of shed ones,
and how many requests got no answer (time-outs, refused connections).
Written only when ``SYNCSTORAGE_SESSION_LOG`` names a file.
"""
from __future__ import annotations

import csv
import os
import time

import gevent

FIELDS = ("timestamp", "user_count", "sessions", "aborted", "session_p50_ms", "session_p95_ms", "shed", "backoff",
          "admitted_p99_ms", "shed_p99_ms", "shed_max_ms", "timeouts")


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class SessionLog:
    def __init__(self, path: str | None, runner=None):
        self.runner = runner
        self._durations: list[float] = []
        self._admitted_ms: list[float] = []
        self._shed_ms: list[float] = []
        self._counts = {"sessions": 0, "aborted": 0, "shed": 0, "backoff": 0, "timeouts": 0}
        self._file = open(path, "w", newline="") if path else None
        self._writer = csv.writer(self._file) if self._file else None
        if self._writer:
            self._writer.writerow(FIELDS)
            self._greenlet = gevent.spawn(self._flush_every_second)

    @classmethod
    def from_environment(cls, environment) -> "SessionLog":
        return cls(os.environ.get("SYNCSTORAGE_SESSION_LOG"), environment.runner)

    def session(self, seconds: float, completed: bool) -> None:
        self._counts["sessions" if completed else "aborted"] += 1
        if completed:
            self._durations.append(seconds * 1000)

    def count(self, what: str) -> None:
        self._counts[what] += 1

    def latency(self, milliseconds: float, shed: bool) -> None:
        (self._shed_ms if shed else self._admitted_ms).append(milliseconds)

    def _flush_every_second(self) -> None:
        while True:
            gevent.sleep(1.0)
            self._flush()

    def _flush(self) -> None:
        users = self.runner.user_count if self.runner else 0
        durations, self._durations = self._durations, []
        admitted, self._admitted_ms = self._admitted_ms, []
        shed, self._shed_ms = self._shed_ms, []
        counts, self._counts = self._counts, dict.fromkeys(self._counts, 0)
        self._writer.writerow([int(time.time()), users, counts["sessions"], counts["aborted"],
                               round(_percentile(durations, 0.5)), round(_percentile(durations, 0.95)),
                               counts["shed"], counts["backoff"], round(_percentile(admitted, 0.99), 1),
                               round(_percentile(shed, 0.99), 1), round(max(shed, default=0.0), 1),
                               counts["timeouts"]])
        self._file.flush()

    def close(self) -> None:
        if self._file:
            self._greenlet.kill()
            self._flush()
            self._file.close()
            self._file = None
