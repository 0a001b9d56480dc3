"""The composition root: every service of a server, built once from its settings.

:func:`build_services` is the one place that decides what is built and what is
shared: one engine (and pool) per database URL, one memcached client handed
explicitly to everything that uses memcached (caches, failed-login and reset
counters, shared verified credentials, the nodes snapshot), the abuse limits,
admission control, mail and captcha.  The WSGI pipeline (web/app.py), the
command line (ops/cli.py) and the move tool (services/moves.py) receive the
:class:`Services` it returns; none of them builds a part of its own.
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa

from syncstorage.gate.addresses import ClientAddresses, Network, parse_networks
from syncstorage.gate.auth import Authenticator, SharedVerifiedCredentials, VerifiedCredentials
from syncstorage.gate.captcha import Captcha
from syncstorage.gate.nodestatus import NodeStatus
from syncstorage.gate.overload import Admission, LoadSignals
from syncstorage.gate.ratelimit import FailedLogins, ResetLimits
from syncstorage.infra.config import Settings
from syncstorage.infra.dbengine import BackendError, create_engine
from syncstorage.infra.mailer import Mailer
from syncstorage.infra.memcache import CacheClient, CoherentCache
from syncstorage.infra.metrics import instrument_engine
from syncstorage.services.migrate import migrate_embedded
from syncstorage.storage.base import Storage
from syncstorage.storage.cache import CachedStorage
from syncstorage.storage.sql import SQLStorage
from syncstorage.users.base import UserStore
from syncstorage.users.cache import CachedUserDB
from syncstorage.users.nodes import NodeDirectory, configured_node_url, normalise_node_url
from syncstorage.users.sql import UserDB


@dataclass
class Services:
    """What a server is made of.  ``storage`` is None on a user-API server;
    ``cache_client`` is None without memcached."""

    settings: Settings
    clock: Callable[[], float]
    engines: "Engines"
    cache_client: CacheClient | None
    storage: Storage | None
    userdb: UserStore
    nodes: NodeDirectory
    node_status: NodeStatus | None
    node_stores: "NodeStores"
    signals: LoadSignals
    admission: Admission
    authenticator: Authenticator
    reset_limits: ResetLimits
    addresses: ClientAddresses
    metrics_networks: tuple[Network, ...]
    mailer: Mailer
    captcha: Captcha
    own_url: str | None = None  # this node's URL as registered ([node] url), None for 'auto'
    checks_node: bool = False  # [node] check on a server with a record store
    # With both caches on one memcached client, a request fetches the account and
    # the user's info/* entry in one round trip (web/rules.py).
    prefetch_client: CacheClient | None = None
    # user name -> id, remembered per worker so that a request can prefetch the
    # user's info/* entry with the account
    userids: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        """Release the database pools (tests, commands that end)."""
        self.engines.close()


def build_services(settings: Settings, *, storage: Storage | None = None, userdb: UserStore | None = None,
                   mailer: Mailer | None = None, captcha: Captcha | None = None,
                   node_status: NodeStatus | None = None, clock: Callable[[], float] = time.time) -> Services:
    """Build every service from ``settings``; the keyword arguments replace the part of that name."""
    if settings.server.switch_interval > 0:  # a per-process knob: services are built once per worker
        sys.setswitchinterval(settings.server.switch_interval)
    if storage is None and userdb is None:
        migrate_embedded(settings)
    signals = LoadSignals()
    engines = Engines(settings, signals)
    client = cache_client(settings)
    local_storage = settings.node.role != "users"  # a user-API server has no record store of its own
    if storage is None and local_storage:
        storage = storage_for(settings, engines, client, settings.storage.sqluri)
    if userdb is None:
        users = UserDB(engines.get(settings.users.sqluri))
        userdb = CachedUserDB(users, coherent_cache(settings, client, settings.users.sqluri)) if client else users
    if node_status is None and local_storage:
        node_status = make_node_status(settings, engines.get(settings.storage.sqluri), client)
    o, a = settings.overload, settings.abuse
    failures = FailedLogins(a.account_failures, a.address_failures, a.window, client, clock=clock,
                            account_total_limit=a.account_total_failures, known_address_ttl=a.known_address_ttl)
    shared = SharedVerifiedCredentials(client, settings.cache.credentials_secret, settings.cache.ttl) \
        if client and settings.cache.credentials_secret else None
    both_cached = isinstance(storage, CachedStorage) and isinstance(userdb, CachedUserDB) and client is not None \
        and storage.cache.client is client and userdb.cache.client is client
    return Services(
        settings=settings, clock=clock, engines=engines, cache_client=client, storage=storage, userdb=userdb,
        nodes=NodeDirectory(userdb.nodes, settings.node.status_refresh, cache_client=client,
                            cache_key=client.key(database_namespace(settings.users.sqluri) + "nodes")
                            if client else ""),
        node_status=node_status,
        node_stores=NodeStores(settings, engines, client, storage),
        signals=signals,
        admission=Admission(o.max_concurrent, o.soft_fraction, o.backoff_min, o.backoff_max,
                            db_latency_soft=o.db_latency_soft, queue_soft=o.queue_soft,
                            max_queue_wait=o.max_queue_wait, signals=signals),
        authenticator=Authenticator(userdb, VerifiedCredentials(settings.users.auth_cache_size), shared, failures),
        reset_limits=ResetLimits(a.reset_mails_per_account, a.reset_mails_per_address, a.reset_code_failures,
                                 a.reset_window, client, clock=clock),
        addresses=ClientAddresses(settings.server.trusted_proxies),
        metrics_networks=parse_networks(settings.metrics.trusted),
        mailer=mailer or Mailer(settings.smtp),
        captcha=captcha or Captcha(settings.users),
        own_url=configured_node_url(settings.node.url),
        checks_node=settings.node.check and settings.node.role != "users",
        prefetch_client=client if both_cached else None,
    )


def storage_for(settings: Settings, engines: "Engines", client: CacheClient | None, url: str) -> Storage:
    """The record store in database ``url``, behind memcached when configured."""
    store = SQLStorage(engines.get(url))
    return CachedStorage(store, coherent_cache(settings, client, url)) if client else store


class NodeStores:
    """The record store holding a user's data, wherever their node is: the node's
    database from [users] node_databases, else this server's own store."""

    def __init__(self, settings: Settings, engines: "Engines", client: CacheClient | None, local: Storage | None):
        self.settings = settings
        self.engines = engines
        self.client = client
        self.local = local
        self.databases = {normalise_node_url(k): v for k, v in settings.users.node_databases.items()}
        self.own_url = configured_node_url(settings.node.url)
        self._stores: dict[str, Storage] = {}

    def for_url(self, node_url: str | None) -> Storage | None:
        """The store of ``node_url``'s data; for a user without a node, the local store
        (None on a user-API server: such a user never stored anything)."""
        if node_url is None:
            return self.local
        node_url = normalise_node_url(node_url)
        if node_url in self.databases:
            url = self.databases[node_url]
            if url not in self._stores:
                self._stores[url] = storage_for(self.settings, self.engines, self.client, url)
            return self._stores[url]
        if self.local is not None and self.own_url in (None, node_url):  # this server's own data
            return self.local
        raise BackendError(f"no database configured for node {node_url} ([users] node_databases)")


def make_node_status(settings: Settings, engine, client: CacheClient | None) -> NodeStatus:
    key = client.key(database_namespace(settings.storage.sqluri) + "node_status") if client else ""
    return NodeStatus(engine, client, key, refresh=settings.node.status_refresh)


def database_namespace(database_url: str) -> str:
    """A short tag naming a database (its URL without the password), for cache keys."""
    safe_url = sa.engine.make_url(database_url).render_as_string(hide_password=True)
    return hashlib.sha1(safe_url.encode("utf-8")).hexdigest()[:10] + ":"


def cache_client(settings: Settings) -> CacheClient | None:
    """The memcached client, or None when no servers are configured."""
    c = settings.cache
    return CacheClient(c.servers, prefix=c.prefix, timeout=c.timeout, ttl=c.ttl) if c.servers else None


def coherent_cache(settings: Settings, client: CacheClient, database_url: str) -> CoherentCache:
    """Entries of one database, in a namespace derived from its URL (without the password)."""
    return CoherentCache(client, grace=settings.cache.write_grace, namespace=database_namespace(database_url))


class Engines:
    """One engine (and pool) per database URL, shared when storage and users coincide."""

    def __init__(self, settings: Settings, signals: LoadSignals | None = None):
        self.settings = settings
        self.signals = signals if signals is not None else LoadSignals()
        self._engines: dict[str, Any] = {}

    def get(self, url: str):
        if url not in self._engines:
            s = self.settings.storage
            engine = create_engine(url, pool_size=s.pool_size, max_overflow=s.pool_max_overflow,
                                   pool_timeout=s.pool_timeout, sqlite_busy_timeout=s.sqlite_busy_timeout,
                                   connect_timeout=s.connect_timeout, read_timeout=s.read_timeout)
            instrument_engine(engine, self.signals)
            self._engines[url] = engine
        return self._engines[url]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
