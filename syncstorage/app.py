"""The WSGI application: the Routes map, dispatch and error handling.

Order of checks for every request (spec §1.1): no matching path -> 404; path
matches but not the method -> 405; then the handler, which authenticates
(401) before it validates anything.  Every response carries X-Weave-Timestamp.
A backend failure becomes 503 with Retry-After and X-Weave-Backoff; any other
exception becomes 500 with a crash id that is also logged.
"""
from __future__ import annotations

import hashlib
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from routes import Mapper
from webob import Request, Response

from . import timestamps
from .addresses import ClientAddresses, parse_networks
from .auth import Authenticator, SharedVerifiedCredentials, VerifiedCredentials
from .captcha import Captcha
from .config import Settings, load_settings
from .dbengine import BackendError, create_engine
from . import nodestatus
from .errors import (HTTPError, InternalError, MethodNotAllowed, NodeUnavailable, NotFound, Overloaded,
                     ServiceUnavailable, Unauthorized)
from .mailer import Mailer
from .memcache import CacheClient, CoherentCache, clear_prefetched, prefetch
from .logs import log_request
from .metrics import instrument_engine, observe_queue, observe_request
from .nodestatus import NodeStatus
from .overload import BACKOFF_SENT, SHED, Admission, LoadSignals
from .ratelimit import FailedLogins, ResetLimits
from .migrate import migrate_embedded
from .storage.base import Storage
from .storage.cache import CachedStorage
from .storage.sql import SQLStorage
from .users.cache import CachedUserDB
from .users.nodes import Node, NodeDirectory, configured_node_url, normalise_node_url
from .users.sql import User, UserDB
from .views import ops, pages, storage as storage_views, users as user_views

log = logging.getLogger("syncstorage")

API = r"1\.0|1|1\.1"
USER_API = r"1\.0|1"
NAME = r"[A-Za-z0-9._-]+"
USERID_MEMORY = 100000  # user names whose id a worker remembers for prefetching
STATUS_EXEMPT = frozenset({"/__metrics__", "/__version__"})  # operators keep their view during an incident
NEVER_SHED = frozenset({"/__heartbeat__", "/__lbheartbeat__", "/__version__", "/__metrics__"})

# name, path template, role (ops = every role), {method: handler(app, call) -> Response}
ROUTES: tuple[tuple[str, str, str, dict[str, Callable]], ...] = (
    ("heartbeat", "/__heartbeat__", "ops", {"GET": ops.heartbeat}),
    ("metrics", "/__metrics__", "ops", {"GET": ops.metrics_view}),
    ("lbheartbeat", "/__lbheartbeat__", "ops", {"GET": ops.lbheartbeat}),
    ("version", "/__version__", "ops", {"GET": ops.version}),
    ("info_collections", "/{api}/{username}/info/collections", "storage",
     {"GET": storage_views.info_collections}),
    ("info_counts", "/{api}/{username}/info/collection_counts", "storage",
     {"GET": storage_views.info_collection_counts}),
    ("info_quota", "/{api}/{username}/info/quota", "storage", {"GET": storage_views.info_quota}),
    ("info_usage", "/{api}/{username}/info/collection_usage", "storage",
     {"GET": storage_views.info_collection_usage}),
    ("storage", "/{api}/{username}/storage", "storage", {"DELETE": storage_views.delete_storage}),
    ("collection", "/{api}/{username}/storage/{collection}", "storage", {
        "GET": storage_views.get_collection, "POST": storage_views.post_collection,
        "PUT": storage_views.post_collection, "DELETE": storage_views.delete_collection}),
    ("item", "/{api}/{username}/storage/{collection}/{item}", "storage", {
        "GET": storage_views.get_item, "PUT": storage_views.put_item, "DELETE": storage_views.delete_item}),
    ("user", "/user/{uapi}/{username}", "users", {
        "GET": user_views.user_exists, "PUT": user_views.create_user, "DELETE": user_views.delete_user}),
    ("user_node", "/user/{uapi}/{username}/node/weave", "users", {"GET": user_views.node}),
    ("user_reset", "/user/{uapi}/{username}/password_reset", "users", {
        "GET": user_views.request_password_reset, "DELETE": user_views.clear_password_reset}),
    ("user_password", "/user/{uapi}/{username}/password", "users", {"POST": user_views.change_password}),
    ("user_email", "/user/{uapi}/{username}/email", "users", {"POST": user_views.change_email}),
    ("captcha_html", "/misc/{uapi}/captcha_html", "users", {"GET": pages.captcha_html, "POST": pages.captcha_html}),
    ("reset_page", "/weave-password-reset", "users", {"GET": pages.reset_form, "POST": pages.reset_submit}),
)
STORAGE_ROUTES = frozenset(name for name, _path, role, _methods in ROUTES if role == "storage")

REQUIREMENTS = {"api": API, "uapi": USER_API, "username": NAME, "collection": NAME, "item": r"[^/]+"}


def serves(role: str, route_role: str) -> bool:
    """Whether a server configured as ``role`` answers routes of ``route_role``."""
    return route_role == "ops" or role in ("both", route_role)


def build_mapper(role: str = "both") -> Mapper:
    """The routes this role answers; the others are 404 like any unknown path."""
    mapper = Mapper(explicit=True)
    mapper.minimization = False
    for name, path, route_role, _methods in ROUTES:
        if serves(role, route_role):
            mapper.connect(name, path, requirements=REQUIREMENTS, route=name)
    return mapper


@dataclass
class Call:
    """One request in flight: the WebOb request, its server time (centiseconds,
    raised by a write that needed a later timestamp), the route's values and,
    once authenticated, the user."""

    req: Request
    ts: int
    match: dict[str, str]
    route: str = ""
    user: User | None = None
    headers: dict[str, str] = field(default_factory=dict)
    node: Node | None = None  # this storage node's row, once looked up for the request
    client: str = ""  # the client's address (addresses.ClientAddresses)


class SyncApp:
    """The Sync server as one WSGI callable; dependencies are passed in."""

    def __init__(self, settings: Settings, storage: Storage, userdb: UserDB, *, mailer: Mailer | None = None,
                 captcha: Captcha | None = None, node_status: NodeStatus | None = None,
                 node_stores: "NodeStores | None" = None, signals: LoadSignals | None = None,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.storage = storage
        self.userdb = userdb
        self.node_status = node_status
        self.node_stores = node_stores
        o = settings.overload
        self.admission = Admission(o.max_concurrent, o.soft_fraction, o.backoff_min, o.backoff_max,
                                   db_latency_soft=o.db_latency_soft, queue_soft=o.queue_soft,
                                   max_queue_wait=o.max_queue_wait, signals=signals)
        shared = None
        if isinstance(userdb, CachedUserDB) and settings.cache.credentials_secret:
            shared = SharedVerifiedCredentials(userdb.cache.client, settings.cache.credentials_secret,
                                               settings.cache.ttl)
        a = settings.abuse
        limits_client = userdb.cache.client if isinstance(userdb, CachedUserDB) else None
        failures = FailedLogins(a.account_failures, a.address_failures, a.window, limits_client, clock=clock,
                                account_total_limit=a.account_total_failures,
                                known_address_ttl=a.known_address_ttl)
        self.reset_limits = ResetLimits(a.reset_mails_per_account, a.reset_mails_per_address,
                                        a.reset_code_failures, a.reset_window, limits_client, clock=clock)
        self.addresses = ClientAddresses(settings.server.trusted_proxies)
        self.metrics_networks = parse_networks(settings.metrics.trusted)
        self.authenticator = Authenticator(userdb, VerifiedCredentials(settings.users.auth_cache_size), shared,
                                           failures)
        self.mailer = mailer or Mailer(settings.smtp)
        self.captcha = captcha or Captcha(settings.users)
        self.clock = clock
        self.mapper = build_mapper(settings.node.role)
        self.handlers = {name: methods for name, _path, _role, methods in ROUTES}
        client = userdb.cache.client if isinstance(userdb, CachedUserDB) else None
        self._own_url = configured_node_url(settings.node.url)
        self._checks_node = settings.node.check and settings.node.role != "users"
        self.nodes = NodeDirectory(userdb.nodes, settings.node.status_refresh, cache_client=client,
                                   cache_key=client.key(database_namespace(settings.users.sqluri) + "nodes")
                                   if client else "")
        # With both caches on one memcached, a request fetches the account and the
        # user's info/* entry in one round trip; the user id is remembered per name.
        self._prefetch_client = None
        if isinstance(storage, CachedStorage) and isinstance(userdb, CachedUserDB) and \
                storage.cache.client is userdb.cache.client:
            self._prefetch_client = storage.cache.client
        self._userids: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response):
        started = time.perf_counter()
        # Only our proxy's clock counts: anyone else could claim a long wait and so
        # raise everyone's X-Weave-Backoff.
        waited = observe_queue(environ.get("HTTP_X_REQUEST_START"), time.time()) \
            if self.addresses.is_proxy(environ.get("REMOTE_ADDR")) else None
        if waited is not None:
            self.admission.signals.observe_queue(waited)
        # The undecoded path: enough for the checks below and for logs, and it
        # cannot fail (decoding is dispatch's job, which answers 404 for non-UTF-8).
        raw_path = environ.get("PATH_INFO", "")
        req = Request(environ)
        call = Call(req=req, ts=timestamps.now_centis(self.clock), match={}, client=self.addresses.of(environ))
        admitted = False
        crash_id = None
        try:
            if raw_path not in NEVER_SHED:
                if self.admission.too_late(waited) or not self.admission.enter():
                    SHED.inc()
                    raise Overloaded(self.settings.overload.shed_retry_after)
                admitted = True
                backoff = self.admission.backoff(self.admission.in_flight)
                if backoff is not None:
                    BACKOFF_SENT.inc()
                    call.headers["X-Weave-Backoff"] = str(backoff)
            self.apply_node_status(call, raw_path)
            response = self.dispatch(call)
        except HTTPError as error:
            response = error.response()
        except BackendError as error:
            crash_id = uuid.uuid4().hex
            log.error("backend unavailable (crash id %s) on %s %r: %s", crash_id, req.method, raw_path, error)
            response = ServiceUnavailable(f"server issue: backend unavailable (crash id {crash_id})",
                                          self.settings.storage.retry_after).response()
        except Exception:
            crash_id = uuid.uuid4().hex
            log.exception("unexpected error (crash id %s) on %s %r", crash_id, req.method, raw_path)
            response = InternalError(crash_id).response()
        finally:
            clear_prefetched()
            if admitted:
                self.admission.leave()
        if call.headers:
            response.headers.update(call.headers)
        response.headers["X-Weave-Timestamp"] = timestamps.render(call.ts)
        seconds = time.perf_counter() - started
        route = call.route or "unmatched"
        observe_request(route, req.method, response.status_code, seconds)
        errno = response.text if response.status_code == 400 and response.content_type == "application/json" else None
        log_request(method=req.method, route=route, status=response.status_code, seconds=seconds,
                    userid=call.user.userid if call.user else None, errno=errno,
                    backoff=response.headers.get("X-Weave-Backoff"), crash_id=crash_id)
        return response(environ, start_response)

    def apply_node_status(self, call: Call, raw_path: str) -> None:
        """Refuse (503) or slow down (X-Weave-Backoff) per the operator's node state
        and, on a checking node, the backoff its row of the nodes table asks for."""
        if raw_path in STATUS_EXEMPT:
            return
        if self.node_status is not None:
            effect = nodestatus.parse(self.node_status.get(), self.settings.storage.retry_after)
            if effect.refuse:
                raise NodeUnavailable(effect.refuse, self.settings.storage.retry_after)
            if effect.backoff is not None:
                self.add_backoff(call, effect.backoff)
        if self._checks_node:
            own = self.own_node(call)
            if own is not None and own.backoff > 0:
                self.add_backoff(call, own.backoff)

    @staticmethod
    def add_backoff(call: Call, seconds: int) -> None:
        current = int(call.headers.get("X-Weave-Backoff", 0))
        call.headers["X-Weave-Backoff"] = str(max(current, seconds))

    def own_node(self, call: Call) -> Node | None:
        """This storage node's row of the nodes table ([node] url, or the request's address for 'auto'),
        looked up once per request."""
        if call.node is None:
            call.node = self.nodes.by_url(self._own_url or call.req.host_url)
        return call.node

    def check_assignment(self, call: Call, user: User) -> None:
        """Storage requests: 503 while the user's data moves; with [node] check, 401 unless
        the user is assigned to this node and it is up (spec §5.4), so clients re-discover."""
        if user.moving:
            raise ServiceUnavailable("server issue: account moving to another node",
                                     self.settings.node.moving_retry_after)
        if not self._checks_node:
            return
        own = self.own_node(call)
        if own is None:
            raise NodeUnavailable("server issue: database lookup failed", self.settings.storage.retry_after)
        if user.nodeid != own.nodeid or own.downed:
            raise Unauthorized("user is assigned to another node")

    def dispatch(self, call: Call) -> Response:
        req = call.req
        try:
            path = req.path_info
        except UnicodeDecodeError:
            raise NotFound("path is not UTF-8") from None
        path = path.rstrip("/") or "/"
        match = self.mapper.match(path)
        if match is None:
            raise NotFound()
        call.route = match.pop("route")
        call.match = match
        methods = self.handlers[call.route]
        handler = methods.get(req.method)
        if handler is None:
            raise MethodNotAllowed(methods)
        return handler(self, call)

    def delete_account(self, user: User) -> None:
        """Delete an account and its data, the data first: an account without data is
        harmless, data without an account is not.  The user id is retired on its
        node, so that a write which authenticated before the deletion cannot land
        after it."""
        node = self.nodes.by_id(user.nodeid)
        store = self.node_stores.for_url(node.url if node else None)
        if store is not None:
            store.retire_user(user.userid, int(self.clock()))
        self.userdb.delete_user(user)

    def authenticate(self, call: Call) -> User:
        """The user named in the URL, proven by the request's Basic credentials."""
        username = call.match["username"]
        if self._prefetch_client is not None:
            wanted = [(self.userdb.cache, CachedUserDB.key(username))]
            if username in self._userids:
                wanted.append((self.storage.cache, CachedStorage.key(self._userids[username])))
            prefetch(self._prefetch_client, wanted)
        call.user = self.authenticator.authenticate(call.req.headers.get("Authorization"), username, call.client)
        if call.route in STORAGE_ROUTES:
            self.check_assignment(call, call.user)
        if self._prefetch_client is not None:
            if len(self._userids) > USERID_MEMORY:
                self._userids.clear()
            self._userids[username] = call.user.userid
        return call.user


def make_app(settings: Settings | None = None, **deps: Any) -> SyncApp:
    """Build the application from settings; ``deps`` replace the parts built from them."""
    settings = settings or load_settings()
    if settings.server.switch_interval > 0:  # a per-process knob: the app is built once per worker
        sys.setswitchinterval(settings.server.switch_interval)
    if "storage" not in deps and "userdb" not in deps:
        migrate_embedded(settings)
    engines = Engines(settings, deps.setdefault("signals", LoadSignals()))
    client = cache_client(settings)
    local_storage = settings.node.role != "users"  # a user-API server has no record store of its own
    if "storage" not in deps:
        deps["storage"] = storage_for(settings, engines, client, settings.storage.sqluri) if local_storage else None
    if "userdb" not in deps:
        users = UserDB(engines.get(settings.users.sqluri))
        deps["userdb"] = CachedUserDB(users, coherent_cache(settings, client, settings.users.sqluri)) \
            if client else users
    if "node_status" not in deps and local_storage:
        deps["node_status"] = make_node_status(settings, engines.get(settings.storage.sqluri), client)
    if "node_stores" not in deps:
        deps["node_stores"] = NodeStores(settings, engines, client, deps["storage"])
    return SyncApp(settings, **deps)


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
                                   pool_timeout=s.pool_timeout, sqlite_busy_timeout=s.sqlite_busy_timeout)
            instrument_engine(engine, self.signals)
            self._engines[url] = engine
        return self._engines[url]


def paste_app_factory(global_conf: dict, **local_conf: Any) -> SyncApp:
    """PasteDeploy entry point (``use = egg:syncstorage``): settings from the same ini file."""
    from .logs import configure_logging

    configure_logging()
    return make_app(load_settings(global_conf.get("__file__")))
