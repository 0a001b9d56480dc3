"""Rules that many handlers share, each written once and named.

* :func:`authenticated` -- the handler runs for the user named in the URL,
  proven by Basic credentials (spec §5.1), after the assignment check of
  storage routes (a moving account: 503; with ``[node] check``, another
  node's user: 401, spec §5.4).  The user is ``call.user``.
* :func:`authenticate` -- the same, for handlers that authenticate only on
  some paths (a password change by reset code needs no credentials).
* :func:`own_node` -- this node's row of the nodes table, once per request.

Storage-specific rules (X-If-Unmodified-Since, quota, storage errors) live
with the storage handlers in views/storage.py, where they are used.
"""
from __future__ import annotations

import functools
from typing import Callable

from webob import Response

from syncstorage.infra.memcache import prefetch
from syncstorage.services.root import Services
from syncstorage.storage.cache import CachedStorage
from syncstorage.users.base import User
from syncstorage.users.cache import CachedUserDB
from syncstorage.users.nodes import Node
from syncstorage.web.call import Call
from syncstorage.wire.errors import NodeUnavailable, ServiceUnavailable, Unauthorized

USERID_MEMORY = 100000  # user names whose id a worker remembers for prefetching

Handler = Callable[[Services, Call], Response]


def authenticated(handler: Handler) -> Handler:
    """Run ``handler`` only for the authenticated owner of the URL (401 otherwise)."""
    @functools.wraps(handler)
    def run(services: Services, call: Call) -> Response:
        authenticate(services, call)
        return handler(services, call)
    return run


def authenticate(services: Services, call: Call) -> User:
    """The user named in the URL, proven by the request's Basic credentials."""
    username = call.match["username"]
    userids = services.userids
    if services.prefetch_client is not None:
        wanted = [(services.userdb.cache, CachedUserDB.key(username))]
        if username in userids:
            wanted.append((services.storage.cache, CachedStorage.key(userids[username])))
        prefetch(services.prefetch_client, wanted)
    call.user = services.authenticator.authenticate(call.req.environ.get("HTTP_AUTHORIZATION"), username,
                                                    call.client)
    if call.role == "storage":
        check_assignment(services, call, call.user)
    if services.prefetch_client is not None:
        if len(userids) > USERID_MEMORY:
            userids.clear()
        userids[username] = call.user.userid
    return call.user


def check_assignment(services: Services, call: Call, user: User) -> None:
    """Storage requests: 503 while the user's data moves; with [node] check, 401 unless
    the user is assigned to this node and it is up (spec §5.4), so clients re-discover."""
    if user.moving:
        raise ServiceUnavailable("server issue: account moving to another node",
                                 services.settings.node.moving_retry_after)
    if not services.checks_node:
        return
    own = own_node(services, call)
    if own is None:
        raise NodeUnavailable("server issue: database lookup failed", services.settings.storage.retry_after)
    if user.nodeid != own.nodeid or own.downed:
        raise Unauthorized("user is assigned to another node")


def own_node(services: Services, call: Call) -> Node | None:
    """This storage node's row of the nodes table ([node] url, or the request's address
    for 'auto'), looked up once per request."""
    if call.node is None:
        call.node = services.nodes.by_url(services.own_url or call.req.host_url)
    return call.node
