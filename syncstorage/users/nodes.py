"""Storage nodes in the user database, and the assignment of accounts to them.

A node is one storage service (its URL is what ``node/weave`` returns).
``available`` = accepts new users (0 while draining), ``capacity`` = users it
may carry, ``current_load`` = users assigned to it, ``downed`` = out of
service (its users are reassigned when they next ask ``node/weave``),
``backoff`` = X-Weave-Backoff seconds its responses carry (0 = none).

Assignment is one write transaction: lock the account row, keep a live
assignment, else take the node with the lowest load/capacity ratio among
those up, available and under capacity, and raise its load with a guarded
``UPDATE ... WHERE current_load < capacity`` -- the guard, not the read, is
what makes capacity a hard limit when many assignments race.
"""
from __future__ import annotations

import ipaddress
import time
import urllib.parse
from dataclasses import astuple, dataclass
from typing import Callable

import sqlalchemy as sa

from syncstorage.infra.dbengine import run_in_transaction
from syncstorage.infra.memcache import fail_open
from syncstorage.infra.periodic import Periodic

ASSIGN_ATTEMPTS = 5  # candidates tried in one transaction before answering "no node"


class NodeFull(Exception):
    """The target node is down, or at capacity."""


def normalise_node_url(url: str) -> str:
    """A node URL as clients use it: with a scheme (https by default) and a trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    return url if url.endswith("/") else url + "/"


def validated_node_url(url: str) -> str:
    """A node URL an operator registers, normalised; ValueError unless clients could use it:
    http or https, a host that is a name with a dot, localhost or an address, no query."""
    url = normalise_node_url(url)
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment or any(
            ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"{url!r} is not an http(s) URL clients can use")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if "." not in host and host != "localhost":
            raise ValueError(f"{url!r}: {host!r} is not a host name clients can resolve (no domain)") from None
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return url


def configured_node_url(setting: str) -> str | None:
    """This server's node URL from ``[node] url``, normalised; None for '' or 'auto'
    (then the address a request came in on stands for it)."""
    setting = setting.strip()
    return normalise_node_url(setting) if setting not in ("", "auto") else None


@dataclass(frozen=True)
class Node:
    nodeid: int
    url: str
    available: bool
    current_load: int
    capacity: int
    downed: bool
    backoff: int

    @property
    def accepts_users(self) -> bool:
        return self.available and not self.downed and self.current_load < self.capacity


def nodes_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "nodes", metadata,
        sa.Column("nodeid", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(255), nullable=False, unique=True),
        sa.Column("available", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("current_load", sa.Integer, nullable=False, server_default="0"),
        sa.Column("capacity", sa.Integer, nullable=False, server_default="0"),
        sa.Column("downed", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("backoff", sa.Integer, nullable=False, server_default="0"),
    )


def _node(row) -> Node:
    m = row._mapping
    return Node(m["nodeid"], m["url"], bool(m["available"]), m["current_load"], m["capacity"], bool(m["downed"]),
                m["backoff"])


class NodeDB:
    """The ``nodes`` table and the ``users.nodeid`` assignments (tables of the users history)."""

    def __init__(self, engine: sa.engine.Engine, users: sa.Table):
        self.engine = engine
        self.users = users
        self.nodes = nodes_table(users.metadata)

    def _run(self, work, write=False):
        return run_in_transaction(self.engine, work, write)

    # -- operator view -------------------------------------------------------------
    def all(self) -> list[Node]:
        n = self.nodes
        return [_node(r) for r in self._run(lambda conn: conn.execute(sa.select(n).order_by(n.c.nodeid)).all())]

    def get(self, url: str) -> Node | None:
        n = self.nodes
        row = self._run(lambda conn: conn.execute(sa.select(n).where(n.c.url == normalise_node_url(url)))
                        .one_or_none())
        return _node(row) if row is not None else None

    def user_counts(self) -> dict[int, int]:
        """Accounts assigned to each node id (what ``current_load`` should equal)."""
        u = self.users
        stmt = sa.select(u.c.nodeid, sa.func.count()).where(u.c.nodeid.is_not(None)).group_by(u.c.nodeid)
        return dict(self._run(lambda conn: conn.execute(stmt).all()))

    def add(self, url: str, capacity: int) -> Node:
        """Register a node; ValueError for a URL clients could not use or a negative capacity."""
        url = validated_node_url(url)
        if capacity < 0:
            raise ValueError("capacity must be 0 or more")
        self._run(lambda conn: conn.execute(self.nodes.insert().values(url=url, capacity=capacity, available=1,
                                                                       current_load=0, downed=0, backoff=0)),
                  write=True)
        return self.get(url)

    def remove(self, url: str) -> None:
        """Forget a node that holds no users; ValueError if it is unknown or holds some."""
        url = normalise_node_url(url)
        n, u = self.nodes, self.users

        def work(conn):
            node = conn.execute(sa.select(n.c.nodeid).where(n.c.url == url).with_for_update()).one_or_none()
            if node is None:
                raise ValueError(f"no node {url}")
            users = conn.execute(sa.select(sa.func.count()).where(u.c.nodeid == node.nodeid)).scalar()
            if users:
                raise ValueError(f"{url} still holds {users} users: move them first (nodes move-users)")
            conn.execute(n.delete().where(n.c.nodeid == node.nodeid))
        self._run(work, write=True)

    def update(self, url: str, **values) -> Node:
        """Change ``capacity``, ``available``, ``downed`` or ``backoff`` of an existing node."""
        allowed = {"capacity", "available", "downed", "backoff"}
        if not values or set(values) - allowed:
            raise ValueError(f"can only set {sorted(allowed)}")
        n = self.nodes
        stmt = n.update().where(n.c.url == normalise_node_url(url)).values(
            **{k: int(v) for k, v in values.items()})
        if self._run(lambda conn: conn.execute(stmt).rowcount, write=True) != 1:
            raise LookupError(f"no node {url}")
        return self.get(url)

    def users_on(self, nodeid: int, limit: int | None = None) -> list[tuple[int, str]]:
        """(userid, username) of accounts assigned to a node, oldest first."""
        u = self.users
        stmt = sa.select(u.c.userid, u.c.username).where(u.c.nodeid == nodeid).order_by(u.c.userid)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [tuple(r) for r in self._run(lambda conn: conn.execute(stmt).all())]

    # -- assignment ------------------------------------------------------------------
    def assign(self, userid: int) -> Node | None:
        """The user's node: the current one unless downed, else the best node with room
        (None when there is none, or the account is gone)."""
        return self._run(lambda conn: self._assign(conn, userid), write=True)

    def _assign(self, conn, userid: int) -> Node | None:
        u, n = self.users, self.nodes
        row = conn.execute(sa.select(u.c.nodeid).where(u.c.userid == userid).with_for_update()).one_or_none()
        if row is None:
            return None
        old = row.nodeid
        if old is not None:
            current = conn.execute(sa.select(n).where(n.c.nodeid == old)).one_or_none()
            if current is not None and not current.downed:
                return _node(current)
        ratio = sa.cast(n.c.current_load, sa.Float) / n.c.capacity
        best = sa.select(n).where(n.c.downed == 0, n.c.available == 1, n.c.current_load < n.c.capacity) \
            .order_by(ratio, n.c.nodeid).limit(1).with_for_update()
        for _ in range(ASSIGN_ATTEMPTS):
            candidate = conn.execute(best).one_or_none()
            if candidate is None:
                return None
            taken = conn.execute(n.update().where(n.c.nodeid == candidate.nodeid, n.c.downed == 0,
                                                  n.c.available == 1, n.c.current_load < n.c.capacity)
                                 .values(current_load=n.c.current_load + 1)).rowcount
            if taken == 1:
                self._move(conn, userid, old, candidate.nodeid)
                return _node(conn.execute(sa.select(n).where(n.c.nodeid == candidate.nodeid)).one())
        return None

    def reassign(self, conn, userid: int, nodeid: int) -> None:
        """Point an account at ``nodeid`` (its data already there), moving one unit of load;
        NodeFull if that node is down or full.  Runs in the caller's transaction."""
        u, n = self.users, self.nodes
        row = conn.execute(sa.select(u.c.nodeid).where(u.c.userid == userid).with_for_update()).one_or_none()
        if row is None:
            raise LookupError(f"no account {userid}")
        if row.nodeid != nodeid:
            taken = conn.execute(n.update().where(n.c.nodeid == nodeid, n.c.downed == 0,
                                                  n.c.current_load < n.c.capacity)
                                 .values(current_load=n.c.current_load + 1)).rowcount
            if taken != 1:
                raise NodeFull(f"node {nodeid} is down or at capacity")
            self._move(conn, userid, row.nodeid, nodeid)

    def _move(self, conn, userid: int, old: int | None, new: int) -> None:
        u, n = self.users, self.nodes
        if old is not None and old != new:
            conn.execute(n.update().where(n.c.nodeid == old, n.c.current_load > 0)
                         .values(current_load=n.c.current_load - 1))
        conn.execute(u.update().where(u.c.userid == userid).values(nodeid=new))

    def release(self, conn, nodeid: int | None) -> None:
        """One account fewer on ``nodeid`` (inside the caller's transaction)."""
        if nodeid is not None:
            n = self.nodes
            conn.execute(n.update().where(n.c.nodeid == nodeid, n.c.current_load > 0)
                         .values(current_load=n.c.current_load - 1))


class NodeDirectory:
    """Every worker's view of the nodes table, read again every ``refresh`` seconds.

    Serves the per-request questions (is this node downed, what backoff does
    it ask for, which URL has node id N) without a query per request.  With
    memcached, the snapshot is shared for ``refresh`` seconds (a memcached
    expiry), so the table is read about once per interval by the whole
    cluster, not once per worker; a change is seen within two intervals.
    """

    def __init__(self, nodedb: NodeDB, refresh: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 cache_client=None, cache_key: str = "nodes"):
        self.nodedb = nodedb
        self.refresh = refresh
        self.clock = clock
        self.cache_client = cache_client
        self.cache_key = cache_key
        self._snapshot: Periodic[tuple[dict[int, Node], dict[str, Node]]] = Periodic(self._index, refresh, lambda: self.clock())

    def _index(self) -> tuple[dict[int, Node], dict[str, Node]]:
        nodes = self._load()
        return {node.nodeid: node for node in nodes}, {node.url: node for node in nodes}

    def _load(self) -> list[Node]:
        if self.cache_client is None or self.refresh < 1:
            return self.nodedb.all()
        shared = fail_open(self.cache_client, "get", self.cache_key)
        if shared is not None:
            return [Node(*fields) for fields in shared]
        nodes = self.nodedb.all()
        # on failure each worker reads the table itself meanwhile
        fail_open(self.cache_client, "set", self.cache_key, [astuple(node) for node in nodes],
                  int(self.refresh))
        return nodes

    def any(self) -> bool:
        """True when nodes are configured (else node/weave falls back to [node] url)."""
        return bool(self._snapshot.get()[0])

    def by_id(self, nodeid: int | None) -> Node | None:
        return self._snapshot.get()[0].get(nodeid) if nodeid is not None else None

    def by_url(self, url: str) -> Node | None:
        return self._snapshot.get()[1].get(normalise_node_url(url))
