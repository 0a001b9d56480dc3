"""The staging cluster's end-to-end check, through nginx as a Firefox client would talk.

1. create accounts on the user API and look up their nodes: both nodes get users;
2. sync records through each user's node; the other node answers 401 (node check);
3. drain node 1: new accounts go to node 2;
4. ``syncstorage nodes move-users`` node 1 -> node 2 while both serve; every moved
   user is now sent to node 2 by node/weave, gets 401 on node 1, and finds exactly
   the records and timestamps it had (counted and compared record by record).
Prints the spread and the move figures; exit status 0 only if every step held.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request

from loadtest.staging import syncstorage_command
from syncstorage.users.names import username_from_account

PASSWORD = "staging-password"
ACCOUNTS = 40
RECORDS = 25  # bookmarks per account, plus meta/global and one tab


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def request(method: str, url: str, body=None, user: str | None = None) -> tuple[int, str, dict]:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if user:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def create_account(server: str, tag: str) -> str:
    email = f"staging-{tag}-{time.time_ns()}@example.com"
    name = username_from_account(email)
    status, body, _ = request("PUT", f"{server}user/1.0/{name}", {"email": email, "password": PASSWORD})
    expect(status == 200 and body == name, f"account creation: {status} {body}")
    return name


def node_of(server: str, name: str) -> str:
    status, body, _ = request("GET", f"{server}user/1.0/{name}/node/weave")
    expect(status == 200 and body.endswith("/"), f"node/weave for {name}: {status} {body}")
    return body


def sync(node: str, name: str, index: int) -> None:
    """A first sync: meta/global, a batch of bookmarks, a tab."""
    base = f"{node}1.1/{name}/"
    status, _, _ = request("PUT", base + "storage/meta/global", {"payload": json.dumps({"syncID": name})}, name)
    expect(status == 200, f"PUT meta/global: {status}")
    items = [{"id": f"bm{i:03d}", "payload": f"bookmark {i} of {name}", "sortindex": i} for i in range(RECORDS)]
    status, body, _ = request("POST", base + "storage/bookmarks", items, name)
    expect(status == 200 and len(json.loads(body)["success"]) == RECORDS, f"POST bookmarks: {status} {body}")
    status, _, _ = request("PUT", base + f"storage/tabs/t{index}", {"payload": "tab", "ttl": 3600}, name)
    expect(status == 200, f"PUT tab: {status}")


def snapshot(node: str, name: str) -> dict:
    """What the client sees: info/collections and every record of every collection."""
    base = f"{node}1.1/{name}/"
    status, body, _ = request("GET", base + "info/collections", user=name)
    expect(status == 200, f"info/collections of {name} on {node}: {status} {body}")
    collections = json.loads(body)
    records = {}
    for collection in sorted(collections):
        status, body, _ = request("GET", base + f"storage/{collection}?full=1&sort=index", user=name)
        expect(status == 200, f"GET {collection}: {status}")
        records[collection] = sorted((r["id"], r["payload"], r["modified"], r.get("sortindex"))
                                     for r in json.loads(body))
    return {"collections": collections, "records": records}


def digest(snap: dict) -> str:
    return hashlib.sha256(json.dumps(snap, sort_keys=True).encode()).hexdigest()[:12]


def run_check(cluster: dict) -> int:
    server = cluster["server_url"]
    node1, node2 = cluster["nodes"]["node1"], cluster["nodes"]["node2"]
    users_env = cluster["environments"]["users"]
    started = time.monotonic()
    try:
        names = [create_account(server, f"a{i}") for i in range(ACCOUNTS)]
        home = {name: node_of(server, name) for name in names}
        spread = {url: sum(1 for h in home.values() if h == url) for url in (node1, node2)}
        print(f"spread of {ACCOUNTS} new accounts: " + ", ".join(f"{u} {n}" for u, n in spread.items()))
        expect(all(n > 0 for n in spread.values()), "both nodes must receive users")
        expect(abs(spread[node1] - spread[node2]) <= 1, "equal capacities must get equal shares")

        for i, name in enumerate(names):
            sync(home[name], name, i)
            other = node2 if home[name] == node1 else node1
            status, _, _ = request("GET", f"{other}1.1/{name}/info/collections", user=name)
            expect(status == 401, f"{name} on the wrong node: {status} (node check)")
        before = {name: snapshot(home[name], name) for name in names}
        on_node1 = [name for name in names if home[name] == node1]
        records_node1 = sum(sum(len(r) for r in before[n]["records"].values()) for n in on_node1)

        print(syncstorage_command(users_env, "nodes", "drain", node1).stdout.strip())
        late = create_account(server, "late")
        expect(node_of(server, late) == node2, "a drained node must take no new users")

        moving_started = time.monotonic()
        moved = syncstorage_command(users_env, "nodes", "move-users", node1, node2, "--batch-size", "8",
                                    "--settle", "1")
        move_seconds = time.monotonic() - moving_started
        print(moved.stdout.strip().splitlines()[-1])

        for name in on_node1:
            expect(node_of(server, name) == node2, f"{name} must now be on {node2}")
            status, _, _ = request("GET", f"{node1}1.1/{name}/info/collections", user=name)
            expect(status == 401, f"{name} on its old node: {status}")
            after = snapshot(node2, name)
            expect(after == before[name], f"{name}: {digest(before[name])} before, {digest(after)} after the move")
        for name in names:
            if home[name] == node2:
                expect(snapshot(node2, name) == before[name], f"{name} (never moved) changed")
        listing = syncstorage_command(users_env, "nodes", "list").stdout
        print(listing.rstrip())
        counts = {line.split()[0]: int(line.split()[1]) for line in listing.splitlines()[1:]}
        expect(counts == {node1: 0, node2: ACCOUNTS + 1}, f"users per node after the move: {counts}")
        print(f"moved {len(on_node1)} users and {records_node1} records from node1 to node2 in {move_seconds:.1f} s; "
              f"every record and timestamp compared, none lost")
    except CheckFailed as failure:
        print(f"STAGING CHECK FAILED: {failure}")
        return 1
    print(f"staging check passed in {time.monotonic() - started:.1f} s")
    return 0
