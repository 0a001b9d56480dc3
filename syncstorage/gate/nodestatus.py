"""Operator-set node state (spec §3.14): backoff, draining, down, unhealthy, ok.

``syncstorage node-status set VALUE`` stores the state durably in the storage
database (``storage_settings``, name ``node_status``) and, when memcached is
configured, in memcached too.  Workers read memcached when configured, else
the database, and keep what they read for ``[node] status_refresh`` seconds,
so a change reaches every worker within seconds at the cost of one lookup per
worker per period.

Effect on requests (:func:`parse`): ``down``, ``draining`` and ``unhealthy``
refuse every request with 503, Retry-After and X-Weave-Backoff;
``backoff`` or ``backoff:N`` serves normally and adds ``X-Weave-Backoff: N``;
anything else is ignored.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import sqlalchemy as sa

from syncstorage.infra.dbengine import BackendError, run_in_transaction
from syncstorage.infra.memcache import fail_open
from syncstorage.infra.periodic import Periodic
from syncstorage.storage.schema import settings_table

_UNREACHABLE = object()  # memcached did not answer (as opposed to answering "no value")

SETTING_NAME = "node_status"
REFUSALS = {"down": "server issue: database marked as down", "draining": "node reassignment",
            "unhealthy": "database is not healthy"}
VALID = ("ok", "backoff", "draining", "down", "unhealthy")


@dataclass(frozen=True)
class Effect:
    """What the state does to a request: a 503 body to refuse it with, or a backoff to add."""

    refuse: str | None = None
    backoff: int | None = None


@functools.lru_cache(maxsize=64)  # called per request with a value that rarely changes
def parse(value: str | None, retry_after: int) -> Effect:
    text = (value or "").strip().lower()
    if text in REFUSALS:
        return Effect(refuse=REFUSALS[text])
    if text == "backoff":
        return Effect(backoff=retry_after)
    if text.startswith("backoff:"):
        try:
            seconds = int(text.split(":", 1)[1])
        except ValueError:
            return Effect()
        return Effect(backoff=max(0, seconds))
    return Effect()


def validate(value: str) -> str:
    """The value as stored; ValueError for anything the CLI should refuse."""
    text = value.strip().lower()
    base, _, seconds = text.partition(":")
    if base not in VALID or (seconds and (base != "backoff" or not seconds.isdigit())):
        raise ValueError(f"node status must be ok, backoff[:N], draining, down or unhealthy, not {value!r}")
    return text


class NodeStatus:
    """Reads and writes the node state; reads are cached in-process for ``refresh`` seconds."""

    def __init__(self, engine: sa.engine.Engine, cache_client=None, cache_key: str = "", refresh: float = 2.0,
                 clock=time.monotonic):
        self.engine = engine
        self.cache_client = cache_client
        self.cache_key = cache_key
        self.refresh = refresh
        self.clock = clock
        self._table = settings_table(sa.MetaData())
        self._current: Periodic[str | None] = Periodic(self._load, refresh, lambda: self.clock())

    def get(self) -> str:
        """The current state ('' when none is set); never raises."""
        return self._current.get() or ""

    def _load(self) -> str | None:
        cached = False
        if self.cache_client is not None:
            value = fail_open(self.cache_client, "get", self.cache_key, default=_UNREACHABLE)
            if value is not None and value is not _UNREACHABLE:
                return value
            cached = value is None  # memcached answered "none": fill it below; unreachable: the database knows
        try:
            value = self._from_database()
        except BackendError:
            return self._current.last()  # keep what we knew; the request itself will meet the outage
        if cached:  # add, not set: a concurrent `node-status set` always wins
            fail_open(self.cache_client, "add", self.cache_key, value or "ok", 0)
        return value

    def _from_database(self) -> str | None:
        t = self._table
        return run_in_transaction(self.engine, lambda conn: conn.execute(
            sa.select(t.c.value).where(t.c.name == SETTING_NAME)).scalar())

    def set(self, value: str) -> str:
        """Store a new state durably (and in memcached); returns it as stored."""
        value = validate(value)
        t = self._table

        def work(conn):
            updated = conn.execute(t.update().where(t.c.name == SETTING_NAME).values(value=value)).rowcount
            if not updated:
                conn.execute(t.insert().values(name=SETTING_NAME, value=value))
        run_in_transaction(self.engine, work, write=True)
        if self.cache_client is not None:  # on failure workers fall back to the database
            fail_open(self.cache_client, "set", self.cache_key, value, 0)
        self._current.put(value)
        return value
