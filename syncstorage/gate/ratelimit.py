"""Abuse limits: password and reset-code guessing, reset mails.

Guessing must not burn the CPU real syncs need, and must not lock out the
account's owner.  Failed logins are counted in fixed windows of ``[abuse]
window`` seconds:

* per client address (``address_failures``): a guessing address stops
  costing the KDF, for every account;
* per account *and* address (``account_failures``): one address hammering one
  account stops; the owner, elsewhere, is not concerned;
* per account from every address (``account_total_failures``): a guessing
  botnet; this limit refuses only addresses the account has never logged in
  from (an address is remembered for ``known_address_ttl`` after a good login).

A refused attempt gets 503 + Retry-After (until the window ends), never 401:
Sync 1.1 clients read 401 as "wrong password" and stop syncing, while they
retry a 503 later.  Credentials a worker verified before never reach these
checks (auth.VerifiedCredentials).  Counters live in memcached when
configured (shared by every worker and server), else in the process; a
memcached failure fails open.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from prometheus_client import Counter

from syncstorage.infra.memcache import CacheClient, fail_open

THROTTLED = Counter("syncstorage_logins_throttled_total", "Logins refused without running the KDF", ["scope"])
RESETS_THROTTLED = Counter("syncstorage_resets_throttled_total", "Password-reset mails or codes refused",
                           ["scope"])
MAX_LOCAL_KEYS = 100000  # in-process counters: past this many keys, expired ones are dropped


class Counters:
    """Integers that expire, in memcached (shared) or in this process."""

    def __init__(self, client: CacheClient | None = None, clock: Callable[[], float] = time.time):
        self.client = client
        self.clock = clock
        self._local: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _key(self, name: str) -> str:
        return self.client.key(name) if self.client else name

    def get(self, names: list[str]) -> dict[str, int]:
        if self.client is None:
            now = self.clock()
            with self._lock:
                return {n: v for n in names if (v := self._live(n, now)) is not None}
        keys = {self._key(n): n for n in names}
        found = fail_open(self.client, "get_multi", list(keys), default={})
        return {keys[k]: int(v) for k, v in found.items() if k in keys}

    def _live(self, name: str, now: float) -> int | None:
        entry = self._local.get(name)
        return entry[0] if entry is not None and entry[1] > now else None

    def incr(self, name: str, ttl: int) -> None:
        if self.client is None:
            now = self.clock()
            with self._lock:
                self._forget_expired(now)
                live = self._live(name, now)
                expires = self._local[name][1] if live is not None else now + ttl
                self._local[name] = ((live or 0) + 1, expires)
            return
        key = self._key(name)
        if fail_open(self.client, "add", key, "1", ttl, default=True) is False:  # already there: count on
            fail_open(self.client, "incr", key, 1)

    def set(self, name: str, ttl: int) -> None:
        if self.client is None:
            now = self.clock()
            with self._lock:
                self._forget_expired(now)
                self._local[name] = (1, now + ttl)
            return
        fail_open(self.client, "set", self._key(name), "1", ttl)

    def _forget_expired(self, now: float) -> None:
        if len(self._local) >= MAX_LOCAL_KEYS:
            self._local = {k: v for k, v in self._local.items() if v[1] > now}
            if len(self._local) >= MAX_LOCAL_KEYS:  # all live: forget them wholesale rather than grow
                self._local.clear()


class Windowed:
    """Counts kept in fixed windows of ``window`` seconds."""

    def __init__(self, window: int, client=None, clock: Callable[[], float] = time.time):
        self.window = max(1, window)
        self.clock = clock
        self.counters = Counters(client, clock)

    def _bucket(self) -> int:
        return int(self.clock() // self.window)

    def retry_after(self) -> int:
        """Seconds until the current window ends."""
        return max(1, int((self._bucket() + 1) * self.window - self.clock()) + 1)


class FailedLogins(Windowed):
    """The failed-login limits of the module docstring."""

    def __init__(self, account_limit: int = 10, address_limit: int = 50, window: int = 300, client=None,
                 clock: Callable[[], float] = time.time, account_total_limit: int = 100,
                 known_address_ttl: int = 30 * 86400):
        super().__init__(window, client, clock)
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.account_total_limit = account_total_limit
        self.known_address_ttl = known_address_ttl

    def _limits(self, username: str, address: str | None) -> list[tuple[str, str, int]]:
        bucket = self._bucket()
        limits = []
        if address and self.address_limit > 0:
            limits.append(("address", f"fail:i:{address}:{bucket}", self.address_limit))
        if address and self.account_limit > 0:
            limits.append(("account", f"fail:p:{username}:{address}:{bucket}", self.account_limit))
        if not address and self.account_limit > 0:  # no address known: the account alone
            limits.append(("account", f"fail:p:{username}::{bucket}", self.account_limit))
        if self.account_total_limit > 0:
            limits.append(("account_total", f"fail:a:{username}:{bucket}", self.account_total_limit))
        return limits

    @staticmethod
    def _known(username: str, address: str | None) -> str:
        return f"ok:{username}:{address or ''}"

    def refused(self, username: str, address: str | None) -> int | None:
        """Seconds to wait when this attempt must not run the KDF, else None."""
        limits = self._limits(username, address)
        if not limits:
            return None
        names = [name for _scope, name, _limit in limits]
        total_scope = any(scope == "account_total" for scope, _n, _l in limits)
        if total_scope:
            names.append(self._known(username, address))
        counts = self.counters.get(names)
        for scope, name, limit in limits:
            if counts.get(name, 0) < limit:
                continue
            if scope == "account_total" and counts.get(self._known(username, address)):
                continue  # the owner's own address: a botnet guessing elsewhere does not lock it out
            THROTTLED.labels(scope).inc()
            return self.retry_after()
        return None

    def record_failure(self, username: str, address: str | None) -> None:
        for _scope, name, _limit in self._limits(username, address):
            self.counters.incr(name, self.window * 2)

    def record_success(self, username: str, address: str | None) -> None:
        if self.account_total_limit > 0:
            self.counters.set(self._known(username, address), self.known_address_ttl)


class ResetLimits(Windowed):
    """Password reset: mails per account and per address, and code guesses per
    account and per address, each per ``window`` seconds (0 = no limit)."""

    def __init__(self, mails_per_account: int = 3, mails_per_address: int = 20, code_failures: int = 20,
                 window: int = 3600, client=None, clock: Callable[[], float] = time.time):
        super().__init__(window, client, clock)
        self.mails_per_account = mails_per_account
        self.mails_per_address = mails_per_address
        self.code_failures = code_failures

    def _over(self, scope: str, limits: list[tuple[str, int]]) -> int | None:
        limits = [(name, limit) for name, limit in limits if limit > 0]
        counts = self.counters.get([name for name, _limit in limits])
        if any(counts.get(name, 0) >= limit for name, limit in limits):
            RESETS_THROTTLED.labels(scope).inc()
            return self.retry_after()
        return None

    def _mail_limits(self, username: str, address: str | None) -> list[tuple[str, int]]:
        b = self._bucket()
        limits = [(f"rmail:a:{username}:{b}", self.mails_per_account)]
        if address:
            limits.append((f"rmail:i:{address}:{b}", self.mails_per_address))
        return limits

    def _code_limits(self, username: str, address: str | None) -> list[tuple[str, int]]:
        b = self._bucket()
        limits = [(f"rcode:a:{username}:{b}", self.code_failures)]
        if address:
            limits.append((f"rcode:i:{address}:{b}", self.code_failures))
        return limits

    def mail_refused(self, username: str, address: str | None) -> int | None:
        """Seconds to wait before another reset mail may be sent, else None."""
        return self._over("mail", self._mail_limits(username, address))

    def _count(self, limits: list[tuple[str, int]]) -> None:
        for name, limit in limits:
            if limit > 0:
                self.counters.incr(name, self.window * 2)

    def record_mail(self, username: str, address: str | None) -> None:
        self._count(self._mail_limits(username, address))

    def code_refused(self, username: str, address: str | None) -> int | None:
        """Seconds to wait before another reset code may be tried, else None."""
        return self._over("code", self._code_limits(username, address))

    def record_code_failure(self, username: str, address: str | None) -> None:
        self._count(self._code_limits(username, address))
