"""The stack's floor for a cached ``GET info/collections``: what any app built on
this stack pays before doing anything of its own.

It matches the path with the server's Routes map, wraps the request and the
response in WebOb, parses the Basic credentials and answers a JSON body; with
FLOOR_CACHE_SERVERS set it also fetches the entries a cache hit reads (epoch,
account, info/* entry) in one ``get_multi`` through the server's memcached
client.  No authentication, no coherence checks, no metrics, no log line: the
difference between this and the real endpoint is the cost of those.
"""
from __future__ import annotations

import json
import os

from webob import Request, Response

from syncstorage.wire import formats
from syncstorage.web.routes import build_mapper
from syncstorage.gate.auth import parse_basic
from syncstorage.infra.memcache import CacheClient

MAPPER = build_mapper()
# about the sizes of the real entries: an account, and a user with three collections
ENTRIES = {"epoch": "1764000000000",
           "user:floor": json.dumps({"s": "clean", "e": 1764000000000, "v": {"userid": 1, "username": "x" * 32,
                                     "email": "floor@example.com", "password_hash": "p" * 120, "status": 1}}),
           "meta:1": json.dumps({"s": "clean", "e": 1764000000000, "v": {
               "bookmarks": [176400000012, 3, 300, 0], "history": [176400000013, 9, 900, 0],
               "tabs": [176400000014, 1, 100, 0]}})}
DEFAULT = {"bookmarks": 176400000012}


def make_floor_app(cache_servers: list[str]):
    """The floor as a WSGI callable; with ``cache_servers``, plus the memcached round trip."""
    client = CacheClient(cache_servers, prefix="floor:") if cache_servers else None
    keys = [client.key(name) for name in ENTRIES] if client else []

    def application(environ, start_response):
        req = Request(environ)
        if MAPPER.match(req.path_info) is None:
            return Response(status=404)(environ, start_response)
        parse_basic(req.headers.get("Authorization"))
        stamps = DEFAULT
        if client is not None:
            found = client.client.get_multi(keys)
            if len(found) < len(keys):  # memcached restarted, or evicted them
                client.client.set_multi({client.key(name): value for name, value in ENTRIES.items()})
            else:
                stamps = {name: t[0] for name, t in json.loads(found[keys[2]])["v"].items()}
        res = Response(body=formats.timestamps_json(stamps).encode(), content_type=formats.JSON, charset=None)
        res.headers["X-Weave-Timestamp"] = "1764000000.00"
        return res(environ, start_response)
    return application


application = make_floor_app([s for s in os.environ.get("FLOOR_CACHE_SERVERS", "").split(",") if s])
