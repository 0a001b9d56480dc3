"""A coherent read-through cache on memcached (design §5).

Keys (``prefix`` + namespace + ...): ``epoch`` and one entry per cached
object.  The namespace names the database the entries come from, so that
several databases (storage nodes, test set-ups) can share one memcached.  An entry
is JSON: ``{"s": "clean", "e": epoch, "v": value}`` or a dirty marker
``{"s": "dirty", "e": epoch, "o": owner, "u": until, "b": base value or null}``.

Readers (:meth:`CoherentCache.read`) fetch ``epoch`` and the entry in one
round trip.  A clean entry of the current epoch is the answer: no SQL.
Otherwise they load from the database and fill the entry: ``add`` when it was
missing, ``cas`` when it was stale or an expired marker, and never over a
dirty marker still in its grace period (a write may be in flight).

Writers (:meth:`CoherentCache.write`) turn the entry into a dirty marker they
own before touching the database (``gets``, then ``cas``; ``set`` without a
base when it was not clean), run the transaction, then, if the marker is still
theirs, ``cas`` in the base value updated with what they committed (``gets``
first: pylibmc returns no CAS id from ``cas``); in any other case they store an
expired marker, which the next reader rebuilds from SQL.  The epoch comes from
the request's prefetch when there was one: four round trips per write.  The
cache is never written ahead of the database, and a stale fill racing a
write is overwritten before that write is acknowledged.

Outages: every cache failure is logged and counted, reads fall back to SQL
and writes go on.  A process whose write could not reach memcached is
*suspect*: the first thing it does once memcached answers again is bump
``epoch``, which voids every entry written before, so nothing from before the
outage is served unchecked.  Entries also expire after ``[cache] ttl``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from typing import Any, Callable

import pylibmc

from syncstorage.infra import metrics

log = logging.getLogger("syncstorage.cache")

CLEAN, DIRTY = "clean", "dirty"
MAX_KEY_BYTES = 250  # memcached's limit
RECOVERY_INTERVAL = 0.2  # seconds between attempts to bump the epoch after an outage


class CacheClient:
    """pylibmc clients per thread (they are not thread-safe), with errors made uniform."""

    def __init__(self, servers: list[str], prefix: str = "sync:", timeout: float = 0.25, ttl: int = 86400):
        self.servers = servers
        self.prefix = prefix
        self.ttl = ttl
        ms = max(1, int(timeout * 1000))
        self._behaviors = {"cas": True, "ketama": True, "tcp_nodelay": True, "connect_timeout": ms,
                           "send_timeout": ms * 1000, "receive_timeout": ms * 1000, "_poll_timeout": ms,
                           "retry_timeout": 1, "dead_timeout": 1}
        self._local = threading.local()

    @property
    def client(self) -> pylibmc.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = pylibmc.Client(self.servers, binary=True, behaviors=self._behaviors)
        return client

    def key(self, name: str) -> str:
        """The memcached key for ``name``.  memcached takes at most 250 bytes of
        printable ASCII without spaces; names that are not (client-chosen user
        names, addresses) are replaced by their SHA-256 under the same prefix."""
        key = self.prefix + name
        if len(key) <= MAX_KEY_BYTES and key.isascii() and key.isprintable() and " " not in key:
            return key
        return self.prefix + "h:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


class CacheError(Exception):
    """memcached could not be used for this operation."""


class ThrottledWarnings:
    """A warning said at most once per ``interval`` per kind, with how many times it
    happened meanwhile: an outage seen by every request must not flood the log."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args) -> None:
        now = self.clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            held = self._held.pop(kind, 0)
            self._last[kind] = now
        if held and last is not None:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, held, now - last)
        self.logger.warning(message, *args)

    def held(self) -> int:
        """Warnings not yet said."""
        with self._lock:
            return sum(self._held.values())


OUTAGE_WARNINGS = ThrottledWarnings(log)


def fail_open(operation: str, fn: Callable[..., Any], *args, default: Any = None) -> Any:
    """``fn(*args)`` for a memcached use that may fail without harm (a counter, a
    shared hint): on failure it is counted, warned about (throttled) and answered
    with ``default``."""
    try:
        return fn(*args)
    except pylibmc.Error as error:
        metrics.CACHE_ERRORS.labels(operation).inc()
        OUTAGE_WARNINGS.warning(operation, "memcached %s failed: %s", operation, error)
        return default


# Entries fetched ahead for the request this thread is serving (see prefetch()).
_prefetched = threading.local()


def prefetch(client: CacheClient, wanted: list[tuple["CoherentCache", str]]) -> None:
    """Fetch several entries (and their epochs) in one round trip for this request.

    A later :meth:`CoherentCache.read` of one of them in the same request uses
    the fetched value instead of asking memcached again: reading it a moment
    earlier within one request changes nothing about what the request may see.
    Call :func:`clear_prefetched` when the request ends.
    """
    if any(cache.suspect for cache, _name in wanted):
        return  # let the normal path recover first
    keys = {key for cache, name in wanted for key in (cache._key(name), cache._epoch_key)}
    try:
        found = client.client.get_multi(list(keys))
    except pylibmc.Error:
        return  # the reads will try again, and report
    _prefetched.found = found
    _prefetched.unread = {(id(cache), name) for cache, name in wanted}


def clear_prefetched() -> None:
    _prefetched.found = _prefetched.unread = None


def _take_prefetched(cache: "CoherentCache", name: str) -> dict | None:
    """What this request's prefetch found, if it fetched ``name`` for ``cache`` and no read
    has used it yet (a read after a write in the same request must ask memcached)."""
    unread = getattr(_prefetched, "unread", None)
    if not unread or (id(cache), name) not in unread:
        return None
    unread.discard((id(cache), name))
    return _prefetched.found


def _prefetched_epoch(cache: "CoherentCache"):
    """The raw epoch this request's prefetch found for ``cache``, or None.  Unlike an
    entry it is not used up by a read: a write in the same request starts from it."""
    found = getattr(_prefetched, "found", None)
    return found.get(cache._epoch_key) if found is not None else None


class CoherentCache:
    """Read-through entries kept coherent with the database (see module docstring)."""

    def __init__(self, client: CacheClient, grace: float = 10.0, clock: Callable[[], float] = time.time,
                 namespace: str = ""):
        self.client = client
        self.namespace = namespace
        self._epoch_key = client.key(namespace + "epoch")
        self.grace = grace
        self.clock = clock
        self.suspect = False
        self._lock = threading.RLock()
        self._recovery: threading.Thread | None = None

    def _key(self, name: str) -> str:
        if name == "epoch":
            return self._epoch_key
        return self.client.key(self.namespace + name)

    # -- low level -------------------------------------------------------------
    def _call(self, operation: str, fn, *args):
        try:
            return fn(*args)
        except pylibmc.Error as error:
            metrics.CACHE_ERRORS.labels(operation).inc()
            OUTAGE_WARNINGS.warning(operation, "memcached %s failed: %s", operation, error)
            self._mark_suspect()
            raise CacheError(str(error)) from error

    def _mark_suspect(self) -> None:
        """An outage: entries may go stale behind our back.  A background thread
        bumps the epoch as soon as memcached answers again, without waiting for
        this process's next request."""
        with self._lock:
            self.suspect = True
            if self._recovery is None or not self._recovery.is_alive():
                self._recovery = threading.Thread(target=self._recover_in_background, daemon=True,
                                                  name="memcached-recovery")
                self._recovery.start()

    def _recover_in_background(self) -> None:
        while self.suspect:
            time.sleep(RECOVERY_INTERVAL)
            try:
                self._recover(self.client.client)
            except CacheError:
                continue

    def _encode(self, entry: dict) -> str:
        return json.dumps(entry, separators=(",", ":"))

    def _decode(self, raw) -> dict | None:
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
        except (TypeError, ValueError):
            return None
        return entry if isinstance(entry, dict) and entry.get("s") in (CLEAN, DIRTY) else None

    def _epoch(self, mc, fetched: Any) -> int:
        """The current epoch; created (from the clock, so never a past value) when missing."""
        if fetched is not None:
            return int(fetched)
        epoch_key = self._key("epoch")
        self._call("add", mc.add, epoch_key, str(int(self.clock() * 1000)), 0)
        value = self._call("get", mc.get, epoch_key)
        if value is None:
            raise CacheError("epoch vanished")
        return int(value)

    def _recover(self, mc) -> None:
        """After an outage this process wrote through: void every older entry."""
        if not self.suspect:
            return
        with self._lock:
            if not self.suspect:
                return
            epoch_key = self._key("epoch")
            try:
                mc.incr(epoch_key, 1)
            except pylibmc.NotFound:
                self._epoch(mc, None)  # memcached restarted empty: a new epoch from the clock
            except pylibmc.Error as error:
                metrics.CACHE_ERRORS.labels("incr").inc()
                raise CacheError(str(error)) from error
            self.suspect = False
            metrics.CACHE_EPOCH_BUMPS.inc()
            log.warning("memcached is back: epoch bumped, entries from before the outage are void")

    def _fetch(self, key: str) -> tuple[dict | None, int]:
        mc = self.client.client
        self._recover(mc)
        epoch_key = self._key("epoch")
        found = self._call("get_multi", mc.get_multi, [epoch_key, key])
        return self._decode(found.get(key)), self._epoch(mc, found.get(epoch_key))

    # -- reads ---------------------------------------------------------------------
    def read(self, name: str, load: Callable[[], Any], kind: str = "entry") -> Any:
        """The cached value for ``name``, or ``load()`` (which is then cached if safe)."""
        key = self._key(name)
        try:
            ahead = _take_prefetched(self, name)
            if ahead is not None and not self.suspect:
                entry, epoch = self._decode(ahead.get(key)), self._epoch(self.client.client, ahead.get(self._epoch_key))
            else:
                entry, epoch = self._fetch(key)
        except CacheError:
            metrics.cache_request(kind, "error").inc()
            return load()
        if entry is not None and entry["s"] == CLEAN and entry.get("e") == epoch:
            metrics.cache_request(kind, "hit").inc()
            return entry["v"]
        metrics.cache_request(kind, "miss").inc()
        if entry is not None and entry["s"] == DIRTY and entry.get("e") == epoch and entry["u"] > self.clock():
            return load()  # a write is in flight: do not fill
        token = self._token(key) if entry is not None else None
        value = load()
        clean = self._encode({"s": CLEAN, "e": epoch, "v": value})
        mc = self.client.client
        try:
            if entry is None:
                self._call("add", mc.add, key, clean, self.client.ttl)
            elif token is not None and token[0] == entry:
                self._call("cas", mc.cas, key, clean, token[1], self.client.ttl)
        except CacheError:
            pass
        return value

    def _token(self, key: str):
        """(decoded entry, cas id) now, or None."""
        try:
            raw, cas_id = self._call("gets", self.client.client.gets, key)
        except CacheError:
            return None
        return (self._decode(raw), cas_id) if raw is not None else None

    # -- writes ----------------------------------------------------------------------
    def write(self, name: str, do_write: Callable[[], Any], update: Callable[[Any, Any], Any] | None = None) -> Any:
        """Run ``do_write()`` (the database transaction) with the entry kept coherent.

        ``update(base, result)`` computes the new cached value from the value
        before the write and the write's result; without it (or when the base
        is unknown) the entry is left for the next reader to rebuild.
        """
        key = self._key(name)
        owner = uuid.uuid4().hex
        mc = self.client.client
        try:
            # The epoch fetched ahead for this request saves a round trip.  Should it
            # have been bumped since, the marker and the value settled after the
            # transaction carry the old epoch, which readers take as void.
            ahead = None if self.suspect else _prefetched_epoch(self)
            epoch = self._epoch(mc, ahead) if ahead is not None else self._fetch(key)[1]
            token = self._token(key)
            base = None
            if token and token[0] and token[0]["s"] == CLEAN and token[0].get("e") == epoch and update:
                base = token[0]["v"]
            marker = self._encode({"s": DIRTY, "e": epoch, "o": owner, "u": self.clock() + self.grace, "b": base})
            if base is not None and self._call("cas", mc.cas, key, marker, token[1], self.client.ttl):
                pass
            else:
                marker = self._encode({"s": DIRTY, "e": epoch, "o": owner, "u": self.clock() + self.grace, "b": None})
                self._call("set", mc.set, key, marker, self.client.ttl)
        except CacheError:
            pass  # the write goes to the database unannounced; _call made this process suspect
        try:
            result = do_write()
        except BaseException:
            self._settle(key, owner, None, None)
            raise
        self._settle(key, owner, result, update)
        return result

    def _settle(self, key: str, owner: str, result, update) -> None:
        """After the transaction: our update if the marker is still ours, else an expired marker."""
        mc = self.client.client
        try:
            token = self._token(key)
            entry = token[0] if token else None
            if (update and entry and entry["s"] == DIRTY and entry.get("o") == owner and entry.get("b") is not None):
                clean = self._encode({"s": CLEAN, "e": entry["e"], "v": update(entry["b"], result)})
                if self._call("cas", mc.cas, key, clean, token[1], self.client.ttl):
                    return
            expired = self._encode({"s": DIRTY, "e": entry.get("e", 0) if entry else 0, "o": None, "u": 0,
                                    "b": None})
            self._call("set", mc.set, key, expired, self.client.ttl)
        except CacheError:
            pass  # _call made this process suspect: the epoch is bumped once memcached is back

    def invalidate(self, name: str) -> None:
        """Make the next read rebuild ``name`` (used when the database changed elsewhere)."""
        try:
            self._call("set", self.client.client.set, self._key(name),
                       self._encode({"s": DIRTY, "e": 0, "o": None, "u": 0, "b": None}), self.client.ttl)
        except CacheError:
            pass  # _call made this process suspect: the epoch is bumped once memcached is back
