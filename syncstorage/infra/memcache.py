"""A coherent read-through cache on memcached (design §5).

Keys (``prefix`` + namespace + ...): ``epoch`` and one entry per cached
object.  The namespace names the database the entries come from, so that
several databases (storage nodes, test set-ups) can share one memcached.

An entry is a short log in JSON: a head, then the events writers appended,
each after a comma (``"[" + entry + "]"`` is one JSON array):

* the head ``{"s": "clean", "e": epoch, "v": value}``, or a dirty head
  ``{"s": "dirty", "e": epoch, "o": owner or null, "u": until}`` (a write by
  ``owner`` in flight until ``until``; without an owner, simply void);
* ``{"w": owner, "u": until}``: a write announced before its transaction;
* ``{"d": owner, "p": patch or null}``: that write settled after its
  transaction, with the change it made to the value (null: unknown).

What an entry says (:func:`_state`): its value is the clean head's value with
the patches applied in order, provided the head is of the current epoch and
every announcement is followed at once by its own settlement with a patch.
memcached appends atomically and each transaction ran between its two events,
so such writes were serial and their patches apply in the order committed.  A
write announced and not settled, within its grace, is *in flight*.  Anything
else -- an older epoch, overlapping writes, a write that failed or gave no
patch, a settlement the log did not announce, a writer that died, a log of
more than MAX_EVENTS -- is void, and the next reader rebuilds it.

Readers (:meth:`CoherentCache.read`) fetch ``epoch`` and the entry in one
round trip (or take the request's prefetch).  A valid value is the answer: no
SQL.  Otherwise they load from the database and fill: ``add`` when the entry
was missing, ``cas`` (token taken before the load) otherwise, and never while
a write is in flight.  A reader that finds COMPACT_AFTER events or more
replaces the log by its value (``gets``, ``cas``), so logs stay short.

Writers (:meth:`CoherentCache.write`) ``append`` the announcement before the
transaction and the settlement after it: two round trips, no read.  Where the
entry is missing the announcement is a dirty head of their own instead (one
``set``), and where it vanished before the settlement an expired head is
``set`` in its place.  The cache is never written ahead of the database, and
a fill that read the database before a write committed cannot be taken as
valid once that write is settled (its ``cas`` fails, or the settlement does
not match an announcement in the log).

Outages: every cache failure is logged and counted, reads fall back to SQL
and writes go on.  Only a write whose *settlement* failed (or an invalidation
that failed) can leave an entry that still looks valid over a changed
database: a failed announcement followed by a settlement is void by the rules
above, and a failed fill or read changes nothing.  The process remembers those
entries (it is *suspect* while it does) and, once memcached answers again,
voids exactly them before it reads or writes anything else; a process that
had to remember more than MAX_PENDING bumps ``epoch`` instead, which voids
every entry.  So a timeout under load costs the entries it touched, not the
whole cache.  Entries also expire after ``[cache] ttl``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
import secrets
from typing import Any, Callable

import orjson
import pylibmc

from syncstorage.infra import metrics

log = logging.getLogger("syncstorage.cache")

CLEAN, DIRTY = "clean", "dirty"
MAX_KEY_BYTES = 250  # memcached's limit
RECOVERY_INTERVAL = 0.2  # seconds between attempts to void what an outage left stale
COMPACT_AFTER = 16  # events after which a reader replaces the log by its value
MAX_EVENTS = 256  # a longer log (written to, never read) is void: bounded work for its reader
HOLD_OFF = 1.0  # seconds a thread leaves memcached alone after a failed call
MAX_PENDING = 1000  # entries a process remembers to void after an outage; beyond, it bumps the epoch


class HeldOff(pylibmc.Error):
    """This thread leaves memcached alone for a while after a failed call."""


class TimedOut(pylibmc.Error):
    """A read answered "nothing" only once its timeout had passed: pylibmc reports a
    read that timed out as a miss."""


_MISSES = (None, {}, (None, None))  # what pylibmc's get, get_multi and gets answer for a miss


class CacheClient:
    """pylibmc clients per thread (they are not thread-safe); every operation goes
    through :meth:`call`."""

    def __init__(self, servers: list[str], prefix: str = "sync:", timeout: float = 0.25, ttl: int = 86400,
                 clock: Callable[[], float] = time.monotonic):
        self.servers = servers
        self.prefix = prefix
        self.ttl = ttl
        self.clock = clock
        self.timeout = timeout
        ms = max(1, int(timeout * 1000))
        self._behaviors = {"cas": True, "ketama": True, "tcp_nodelay": True, "connect_timeout": ms,
                           "send_timeout": ms * 1000, "receive_timeout": ms * 1000, "_poll_timeout": ms,
                           "retry_timeout": 1, "dead_timeout": 1}
        self._local = threading.local()
        # A request asks for the same few keys several times (prefetch, then each read)
        self._remembered_key = functools.lru_cache(maxsize=4096)(self._make_key)

    @property
    def client(self) -> pylibmc.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            # The text protocol: libmemcached sends a binary get_multi as two writes (the keys,
            # then a NOOP), so memcached woke twice and the client read twice per cache hit;
            # a text ``gets k1 k2 ...`` is one write and one read.  Keys are safe in it: key()
            # admits printable ASCII without spaces only, so no name can end a key or a line.
            client = self._local.client = pylibmc.Client(self.servers, binary=False, behaviors=self._behaviors)
        return client

    def call(self, operation: str, *args) -> Any:
        """``operation`` (a pylibmc.Client method) with ``args`` on this thread's connection.

        A call that fails drops the connection: after a timeout libmemcached can keep a
        late or partial reply and read it as the answer to the next command, which then
        returns another key's value (seen under load: a get of the epoch answered with a
        user's entry, then a worker aborted on a double free).  pylibmc answers a read
        that timed out as a miss, so a miss that took the whole timeout is a failure too
        (:class:`TimedOut`), and any call that slow gives up its connection.  After a
        failure the thread fails at once (:class:`HeldOff`) for HOLD_OFF seconds, so an
        outage costs it one timeout per interval, not one per call.
        ``pylibmc.NotFound`` is an answer, not a failure.
        """
        local = self._local
        held_until = getattr(local, "held_until", None)
        if held_until is not None:  # only after a failure: no clock read on the usual call
            if held_until > self.clock():
                raise HeldOff(f"memcached {operation}: held off after a failed call")
            local.held_until = None
        started = time.perf_counter()
        try:
            result = getattr(self.client, operation)(*args)
        except pylibmc.NotFound:
            raise
        except pylibmc.Error:
            self._fail()
            raise
        if time.perf_counter() - started >= self.timeout:
            if result in _MISSES:
                self._fail()
                raise TimedOut(f"memcached {operation}: nothing read within {self.timeout} s")
            local.client = None  # a reply this slow may not have been the last one read
        return result

    def _fail(self) -> None:
        local = self._local
        local.client = None  # closed when collected; the next call connects afresh
        local.held_until = self.clock() + HOLD_OFF

    def key(self, name: str) -> str:
        """The memcached key for ``name``.  memcached takes at most 250 bytes of
        printable ASCII without spaces; names that are not (client-chosen user
        names, addresses) are replaced by their SHA-256 under the same prefix.
        Keys of names up to a key's length are remembered; longer names (which a
        client may send as a user name) are hashed each time, not kept."""
        if len(name) <= MAX_KEY_BYTES:
            return self._remembered_key(name)
        return self._make_key(name)

    def _make_key(self, name: str) -> str:
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


def fail_open(client: CacheClient, operation: str, *args, default: Any = None) -> Any:
    """``client.call(operation, *args)`` for a memcached use that may fail without harm
    (a counter, a shared hint): on failure it is counted, warned about (throttled) and
    answered with ``default``."""
    try:
        return client.call(operation, *args)
    except pylibmc.Error as error:
        report_failure(operation, error)
        return default


def report_failure(operation: str, error: Exception) -> None:
    """A failed memcached ``operation``: counted, and warned about (throttled per operation)."""
    metrics.CACHE_ERRORS.labels(operation).inc()
    OUTAGE_WARNINGS.warning(operation, "memcached %s failed: %s", operation, error)


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
        found = client.call("get_multi", list(keys))
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


class _Void:
    """The value of an entry that must be rebuilt from the database."""

    def __repr__(self) -> str:
        return "VOID"


VOID: Any = _Void()


def apply_patch(value: Any, patch: dict) -> Any:
    """``value`` changed by ``patch``: ``{"all": new value}`` or ``{"set": {key: value or
    None to remove}}`` (the value a dict)."""
    if "all" in patch:
        return patch["all"]
    changed = dict(value)
    for key, item in patch["set"].items():
        if item is None:
            changed.pop(key, None)
        else:
            changed[key] = item
    return changed


def _parse(text: str | bytes) -> Any:
    """JSON read with orjson (every hit reads an entry; orjson takes a third of json's
    time), with json for what orjson refuses and json reads (lone surrogates)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _state(raw: Any, epoch: int, now: float) -> tuple[Any, bool, int]:
    """What an entry's log says (module docstring): its value (VOID if it must be
    rebuilt), whether a write is in flight, and how many events follow the head."""
    if raw is None:
        return VOID, False, 0
    try:
        head, *events = _parse("[" + raw + "]" if isinstance(raw, str) else b"[" + raw + b"]")
        open_writes: dict[str, float] = {}
        if head["s"] == CLEAN:
            value = head["v"] if head["e"] == epoch else VOID
        elif head["s"] == DIRTY:
            value = VOID
            if head["o"] is not None:
                open_writes[head["o"]] = head["u"]
        else:
            return VOID, False, 0
        for event in events:
            if "w" in event:
                if open_writes:
                    value = VOID  # overlaps a write not yet settled: their order is unknown
                open_writes[event["w"]] = event["u"]
            elif open_writes.pop(event["d"], None) is None or open_writes or event["p"] is None:
                value = VOID  # not announced here, or settled while another is open, or no patch
            elif value is not VOID:
                value = apply_patch(value, event["p"])
        if open_writes or len(events) > MAX_EVENTS:
            value = VOID  # a write not settled (in flight, or its writer died), or too long
        return value, any(until > now for until in open_writes.values()), len(events)
    except (ValueError, TypeError, KeyError, AttributeError):
        return VOID, False, 0  # not an entry of ours: rebuilt over


class CoherentCache:
    """Read-through entries kept coherent with the database (see module docstring)."""

    def __init__(self, client: CacheClient, grace: float = 10.0, clock: Callable[[], float] = time.time,
                 namespace: str = ""):
        self.client = client
        self.namespace = namespace
        self._epoch_key = client.key(namespace + "epoch")
        self.grace = grace
        self.clock = clock
        self._pending: set[str] = set()  # keys to void once memcached answers
        self._overflow = False  # more than MAX_PENDING of them: bump the epoch instead
        self._lock = threading.RLock()
        self._recovery: threading.Thread | None = None

    @property
    def suspect(self) -> bool:
        """Entries this process may have left stale wait to be voided."""
        return self._overflow or bool(self._pending)

    def _key(self, name: str) -> str:
        if name == "epoch":
            return self._epoch_key
        return self.client.key(self.namespace + name)

    # -- low level -------------------------------------------------------------
    def _call(self, operation: str, *args):
        try:
            return self.client.call(operation, *args)
        except pylibmc.Error as error:
            report_failure(operation, error)
            raise CacheError(str(error)) from error

    def _remember(self, key: str) -> None:
        """``key`` may look valid over a changed database: void it as soon as memcached
        answers again (a background thread tries without waiting for this process's
        next request)."""
        with self._lock:
            if self._overflow or len(self._pending) >= MAX_PENDING:
                self._overflow, self._pending = True, set()
            else:
                self._pending.add(key)
            if self._recovery is None or not self._recovery.is_alive():
                self._recovery = threading.Thread(target=self._recover_in_background, daemon=True,
                                                  name="memcached-recovery")
                self._recovery.start()

    def _recover_in_background(self) -> None:
        while self.suspect:
            time.sleep(RECOVERY_INTERVAL)
            try:
                self._recover()
            except CacheError:
                continue

    @staticmethod
    def _encode(item: dict) -> str:
        return json.dumps(item, separators=(",", ":"))

    def _void_head(self) -> str:
        return self._encode({"s": DIRTY, "e": 0, "o": None, "u": 0})

    def _epoch(self, fetched: Any) -> int:
        """The current epoch; created (from the clock, so never a past value) when missing."""
        if fetched is None:
            epoch_key = self._key("epoch")
            self._call("add", epoch_key, str(int(self.clock() * 1000)), 0)
            fetched = self._call("get", epoch_key)
            if fetched is None:
                raise CacheError("epoch vanished")
        try:
            return int(fetched)
        except (TypeError, ValueError):
            raise CacheError(f"the epoch is not a number: {str(fetched)[:40]!r}") from None

    def _recover(self) -> None:
        """After an outage: void the entries this process may have left stale (all of
        them, by bumping the epoch, if it had to remember too many)."""
        if not self.suspect:
            return
        with self._lock:
            if self._overflow:
                self._bump_epoch()
                self._overflow = False
                metrics.CACHE_EPOCH_BUMPS.inc()
                log.warning("memcached is back: epoch bumped, entries from before the outage are void")
            elif self._pending:
                keys = sorted(self._pending)
                void = self._void_head()
                failed = self._call("set_multi", dict.fromkeys(keys, void), self.client.ttl)
                if failed:
                    raise CacheError(f"{len(failed)} entries could not be voided")
                self._pending.difference_update(keys)
                metrics.CACHE_ENTRIES_VOIDED.inc(len(keys))
                OUTAGE_WARNINGS.warning("recovery", "memcached is back: %d entries written during the outage"
                                        " are void", len(keys))

    def _bump_epoch(self) -> None:
        try:
            self.client.call("incr", self._key("epoch"), 1)
        except pylibmc.NotFound:
            self._epoch(None)  # memcached restarted empty: a new epoch from the clock
        except pylibmc.Error as error:
            metrics.CACHE_ERRORS.labels("incr").inc()
            raise CacheError(str(error)) from error

    def _fetch(self, key: str) -> tuple[Any, int]:
        """The entry's raw log (or None) and the epoch, in one round trip."""
        self._recover()
        found = self._call("get_multi", [self._epoch_key, key])
        return found.get(key), self._epoch(found.get(self._epoch_key))

    # -- reads ---------------------------------------------------------------------
    def read(self, name: str, load: Callable[[], Any], kind: str = "entry") -> Any:
        """The cached value for ``name``, or ``load()`` (which is then cached if safe)."""
        key = self._key(name)
        try:
            ahead = _take_prefetched(self, name)
            if ahead is not None and not self.suspect:
                raw, epoch = ahead.get(key), self._epoch(ahead.get(self._epoch_key))
            else:
                raw, epoch = self._fetch(key)
        except CacheError:
            metrics.count_cache_request(kind, "error")
            return load()
        value, in_flight, events = _state(raw, epoch, self.clock())
        if value is not VOID:
            metrics.count_cache_request(kind, "hit")
            if events >= COMPACT_AFTER:
                self._cas_if_unchanged(key, raw, self._token(key), self._encode({"s": CLEAN, "e": epoch, "v": value}))
            return value
        metrics.count_cache_request(kind, "miss")
        if in_flight:
            return load()  # a write is in flight: do not fill
        token = self._token(key) if raw is not None else None
        value = load()
        clean = self._encode({"s": CLEAN, "e": epoch, "v": value})
        if raw is None:
            try:
                self._call("add", key, clean, self.client.ttl)
            except CacheError:
                pass
        else:
            self._cas_if_unchanged(key, raw, token, clean)
        return value

    def _token(self, key: str):
        """(raw entry, cas id) now, or None."""
        try:
            raw, cas_id = self._call("gets", key)
        except CacheError:
            return None
        return (raw, cas_id) if raw is not None else None

    def _cas_if_unchanged(self, key: str, raw: Any, token, text: str) -> None:
        """Store ``text`` in place of the entry ``raw`` that was read and judged, only if
        ``token`` (taken since) shows it unchanged and nothing is appended before the store."""
        if token is not None and token[0] == raw:
            try:
                self._call("cas", key, text, token[1], self.client.ttl)
            except CacheError:
                pass

    # -- writes ----------------------------------------------------------------------
    def write(self, name: str, do_write: Callable[[], Any], patch: Callable[[Any], dict] | None = None) -> Any:
        """Run ``do_write()`` (the database transaction) with the entry kept coherent.

        ``patch(result)`` is the change the write made to the cached value, as
        :func:`apply_patch` takes it, correct when applied to the value just before
        the transaction; without it the entry is left for the next reader to rebuild.
        """
        key = self._key(name)
        owner = secrets.token_hex(8)
        try:
            self._recover()  # a suspect process voids what it may have left stale before writing
            until = round(self.clock() + self.grace, 3)
            if not self._call("append", key, "," + self._encode({"w": owner, "u": until})):
                # no entry to announce in: a dirty head of our own (over any fill since)
                head = self._encode({"s": DIRTY, "e": 0, "o": owner, "u": until})
                self._call("set", key, head, self.client.ttl)
        except CacheError:
            pass  # unannounced: the settlement voids the entry, or is remembered if it fails too
        try:
            result = do_write()
        except BaseException:
            self._settle(key, owner, None)
            raise
        self._settle(key, owner, patch(result) if patch is not None else None)
        return result

    def _settle(self, key: str, owner: str, change: dict | None) -> None:
        """After the transaction: its settlement appended to the log; where the entry
        vanished meanwhile, a void head (a reader may have loaded before the commit)."""
        try:
            if not self._call("append", key, "," + self._encode({"d": owner, "p": change})):
                self._call("set", key, self._void_head(), self.client.ttl)
        except CacheError:
            self._remember(key)

    def invalidate(self, name: str) -> None:
        """Make the next read rebuild ``name`` (used when the database changed elsewhere)."""
        key = self._key(name)
        try:
            self._call("set", key, self._void_head(), self.client.ttl)
        except CacheError:
            self._remember(key)
