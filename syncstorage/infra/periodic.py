"""A value a process reloads at most once per interval (settings that operators change
while the service runs: the node state, the nodes table)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Periodic(Generic[T]):
    """``load()`` at most once per ``refresh`` seconds; readers in between get the last
    value at no cost, and concurrent readers at expiry wait for one load, not one each."""

    def __init__(self, load: Callable[[], T], refresh: float, clock: Callable[[], float] = time.monotonic,
                 initial: T | None = None):
        self._load = load
        self.refresh = refresh
        self.clock = clock
        self._value = initial
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.refresh:
            return self._value
        with self._lock:
            if self._read_at is None or now - self._read_at >= self.refresh:
                self._value = self._load()
                self._read_at = now
        return self._value

    def last(self) -> T | None:
        """The value loaded last (None before the first load), without loading."""
        return self._value

    def put(self, value: T) -> None:
        """A value this process knows to be current (it just wrote it)."""
        with self._lock:
            self._value, self._read_at = value, self.clock()
