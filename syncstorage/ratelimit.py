"""Failed-login limits: password guessing must not burn the CPU real syncs need.

Failures are counted per account and per client address in fixed windows of
``[abuse] window`` seconds.  Once either count reaches its limit, requests for
that account or from that address that would need the password KDF are
answered 401 without running it, until the window ends.  Credentials already
verified by a worker are unaffected, so a guessing attacker cannot lock out a
client that has been syncing.  Counters live in memcached when configured
(shared by every worker), else in the process; memcached errors fail open.
"""
from __future__ import annotations

import threading
import time

import pylibmc
from prometheus_client import Counter

THROTTLED = Counter("syncstorage_logins_throttled_total", "Logins refused without running the KDF", ["scope"])


class FailedLogins:
    def __init__(self, account_limit: int = 10, address_limit: int = 50, window: int = 300, client=None,
                 clock=time.time):
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window = max(1, window)
        self.client = client
        self.clock = clock
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[str, str, int]]:
        bucket = int(self.clock() // self.window)
        keys = []
        if self.account_limit > 0:
            keys.append(("account", f"fail:a:{username}:{bucket}", self.account_limit))
        if address and self.address_limit > 0:
            keys.append(("address", f"fail:i:{address}:{bucket}", self.address_limit))
        return keys

    def _full_key(self, key: str) -> str:
        return self.client.key(key) if self.client else key

    def blocked(self, username: str, address: str | None) -> bool:
        keys = self._keys(username, address)
        if not keys:
            return False
        counts = self._counts([key for _scope, key, _limit in keys])
        for scope, key, limit in keys:
            if counts.get(key, 0) >= limit:
                THROTTLED.labels(scope).inc()
                return True
        return False

    def _counts(self, keys: list[str]) -> dict[str, int]:
        if self.client is None:
            with self._lock:
                return {key: self._local.get(key, 0) for key in keys}
        try:
            found = self.client.client.get_multi([self._full_key(k) for k in keys])
        except pylibmc.Error:
            return {}
        return {key: int(found.get(self._full_key(key), 0)) for key in keys}

    def record_failure(self, username: str, address: str | None) -> None:
        for _scope, key, _limit in self._keys(username, address):
            if self.client is None:
                with self._lock:
                    if len(self._local) > 100000:  # old windows: forget them wholesale
                        self._local.clear()
                    self._local[key] = self._local.get(key, 0) + 1
                continue
            full = self._full_key(key)
            try:
                self.client.client.add(full, "0", self.window * 2)
                self.client.client.incr(full, 1)
            except pylibmc.Error:
                pass  # fail open
