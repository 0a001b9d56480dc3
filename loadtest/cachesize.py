"""memcached bytes per active user: ``python -m loadtest.cachesize [--users N] [--collections K]``.

Starts a throwaway memcached and an app on a scratch SQLite database, lets N
accounts each write K collections and read info/collections (as a sync
does), and divides the growth of memcached's own ``bytes`` statistic (item
sizes with keys and headers, before slab rounding) by N.  The capacity
model's CACHE_BYTES_PER_USER (syncstorage/ops/capacity.py) is this figure plus
slab rounding.
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

import webtest

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from loadtest.services import Memcached
from syncstorage.gate.passwords import hash_password

COLLECTIONS = ("bookmarks", "history", "tabs", "clients", "meta", "crypto", "forms", "prefs", "passwords", "addons")
PASSWORD = "cache-size-password"


def memcached_stats(port: int) -> dict[str, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += sock.recv(65536)
    return dict(line.split()[1:3] for line in data.decode().splitlines() if line.startswith("STAT"))


def measure(users: int, collections: int) -> dict:
    cache = Memcached().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(overrides={"storage.sqluri": f"sqlite:///{Path(tmp) / 'size.db'}",
                                                "cache.servers": cache.address,
                                                "cache.credentials_secret": "cache-size-secret"}, environ={})
            app = webtest.TestApp(make_app(settings))
            stored = hash_password(PASSWORD)

            def sync_once(name: str) -> None:
                app.authorization = ("Basic", (name, PASSWORD))
                for collection in COLLECTIONS[:collections]:
                    app.put(f"/1.1/{name}/storage/{collection}/x", '{"payload": "p"}')
                app.get(f"/1.1/{name}/info/collections")

            # one user first: the per-database entries (cache epochs) are not per-user costs
            sync_once(app.app.services.userdb.create_user("cachesize-warmup", None, stored).username)
            before = memcached_stats(cache.port)
            for i in range(users):
                sync_once(app.app.services.userdb.create_user(f"cachesize{i}", None, stored).username)
            after = memcached_stats(cache.port)
    finally:
        cache.stop()
    grown = int(after["bytes"]) - int(before["bytes"])
    items = int(after["curr_items"]) - int(before["curr_items"])
    return {"users": users, "collections": collections, "bytes_per_user": grown / users, "items_per_user": items / users}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--collections", type=int, default=10, choices=range(1, len(COLLECTIONS) + 1))
    args = p.parse_args(argv)
    result = measure(args.users, args.collections)
    print(f"{result['bytes_per_user']:.0f} bytes and {result['items_per_user']:.2f} items per active user "
          f"({result['users']} users, {result['collections']} collections each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
