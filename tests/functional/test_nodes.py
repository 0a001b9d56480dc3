"""A cluster in one process: a user-API app and two checking storage nodes on MariaDB,
with and without a shared memcached -- node/weave, node checks (spec §5.4), moves."""
import base64

import pytest
import webtest

from syncstorage.web.app import make_app
from syncstorage.infra.config import load_settings
from syncstorage.services.moves import move_users

from ..conftest import PASSWORD, new_username, password_hash

N1, N2 = "http://node1.test/", "http://node2.test/"


@pytest.fixture(params=["mysql", "mysql+memcached"])
def cluster(request, make_database):
    servers = request.getfixturevalue("memcached").address if request.param.endswith("memcached") else ""
    central = make_database("mysql", role="users")
    databases = {N1: make_database("mysql", role="storage"), N2: make_database("mysql", role="storage")}
    common = {"users.sqluri": central, "cache.servers": servers, "node.status_refresh": 0}

    def build(role, **extra):
        return make_app(load_settings(overrides={**common, "node.role": role, **extra}, environ={}))
    users = build("users", **{"users.node_databases": " ".join(f"{k}={v}" for k, v in databases.items())})
    nodes = {url: build("storage", **{"storage.sqluri": db, "node.url": url, "node.check": True})
             for url, db in databases.items()}
    users.services.userdb.nodes.add(N1, capacity=10)
    users.services.userdb.nodes.add(N2, capacity=10)
    apps = [users, *nodes.values()]
    yield users, nodes
    for app in apps:
        app.services.close()


def _client(app, username):
    test = webtest.TestApp(app, extra_environ={"HTTP_HOST": "node.test"})
    test.authorization = ("Basic", (username, PASSWORD))
    return test


def _new_user(users_app):
    name = new_username()
    return users_app.services.userdb.create_user(name, None, password_hash())


def test_roles_answer_only_their_routes(cluster):
    users, nodes = cluster
    user = _new_user(users)
    storage = _client(nodes[N1], user.username)
    assert storage.get(f"/user/1.0/{user.username}", status=404)
    assert webtest.TestApp(users).get(f"/1.1/{user.username}/info/collections", status=404)
    assert webtest.TestApp(users).get("/__heartbeat__").status_int == 200
    assert storage.get("/__heartbeat__").status_int == 200


def test_node_weave_assigns_and_the_node_checks(cluster):
    users, nodes = cluster
    user = _new_user(users)
    node_url = webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text
    assert node_url in (N1, N2)
    other = N2 if node_url == N1 else N1
    mine = _client(nodes[node_url], user.username)
    mine.put_json(f"/1.1/{user.username}/storage/bookmarks/a", {"payload": "x"})
    assert mine.get(f"/1.1/{user.username}/info/collections").json.keys() == {"bookmarks"}
    assert _client(nodes[other], user.username).get(f"/1.1/{user.username}/info/collections", status=401)
    # a second lookup returns the same node
    assert webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text == node_url


def test_unassigned_users_get_401_and_a_downed_node_reassigns(cluster):
    users, nodes = cluster
    user = _new_user(users)
    assert _client(nodes[N1], user.username).get(f"/1.1/{user.username}/info/collections", status=401)
    users.services.userdb.nodes.update(N2, available=0)
    assert webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text == N1
    users.services.userdb.nodes.update(N2, available=1)
    users.services.userdb.nodes.update(N1, downed=1)
    assert _client(nodes[N1], user.username).get(f"/1.1/{user.username}/info/collections", status=401)
    assert webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text == N2
    assert _client(nodes[N2], user.username).get(f"/1.1/{user.username}/info/collections").json == {}


def test_no_node_with_room_answers_null(cluster):
    users, _nodes = cluster
    users.services.userdb.nodes.update(N1, capacity=0)
    users.services.userdb.nodes.update(N2, downed=1)
    user = _new_user(users)
    assert webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text == "null"


def test_node_backoff_and_unknown_node(cluster, make_database):
    users, nodes = cluster
    user = _new_user(users)
    users.services.userdb.nodes.update(N1, backoff=300)
    users.services.userdb.move_to_node(user, users.services.userdb.nodes.get(N1).nodeid)
    resp = _client(nodes[N1], user.username).get(f"/1.1/{user.username}/info/collections")
    assert resp.headers["X-Weave-Backoff"] == "300"
    settings = load_settings(overrides={"storage.sqluri": make_database("mysql", role="storage"),
                                        "users.sqluri": users.services.settings.users.sqluri, "node.role": "storage",
                                        "node.url": "http://stranger.test/", "node.check": True}, environ={})
    stranger = make_app(settings)
    try:
        resp = _client(stranger, user.username).get(f"/1.1/{user.username}/info/collections", status=503)
        assert resp.text == "server issue: database lookup failed" and resp.headers["Retry-After"]
    finally:
        stranger.services.close()


def test_moving_users_get_503_with_a_short_retry_after(cluster):
    users, nodes = cluster
    user = _new_user(users)
    users.services.userdb.move_to_node(user, users.services.userdb.nodes.get(N1).nodeid)
    users.services.userdb.set_moving(user, True)
    resp = _client(nodes[N1], user.username).get(f"/1.1/{user.username}/info/collections", status=503)
    assert resp.headers["Retry-After"] == str(nodes[N1].services.settings.node.moving_retry_after)
    # the user API still answers (password changes do not wait for a move)
    assert webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text == N1


def test_move_users_moves_everything_and_clients_follow(cluster):
    users, nodes = cluster
    users.services.userdb.nodes.update(N2, available=0)  # everyone starts on node 1
    accounts = [_new_user(users) for _ in range(5)]
    written = {}
    for i, account in enumerate(accounts):
        assert webtest.TestApp(users).get(f"/user/1.0/{account.username}/node/weave").text == N1
        client = _client(nodes[N1], account.username)
        items = [{"id": f"r{j}", "payload": f"p{i}-{j}", "sortindex": j} for j in range(i * 7 + 1)]
        client.post_json(f"/1.1/{account.username}/storage/bookmarks", items)
        client.put_json(f"/1.1/{account.username}/storage/custom-{i}/x", {"payload": "c"})
        written[account.username] = (client.get(f"/1.1/{account.username}/info/collections").json,
                                     client.get(f"/1.1/{account.username}/storage/bookmarks?full=1").json)
    users.services.userdb.nodes.update(N2, available=1)
    users.services.userdb.nodes.update(N1, available=0)  # drain

    report = move_users(users.services, users.services.userdb.nodes.get(N1), users.services.userdb.nodes.get(N2), count=4, batch=3,
                        settle=0, log=lambda _m: None)

    assert (report.users, report.failed) == (4, [])
    assert report.records == sum(i * 7 + 1 + 1 for i in range(4))
    for i, account in enumerate(accounts):
        name = account.username
        home = N2 if i < 4 else N1
        away = N1 if i < 4 else N2
        assert webtest.TestApp(users).get(f"/user/1.0/{name}/node/weave").text == home
        assert _client(nodes[away], name).get(f"/1.1/{name}/info/collections", status=401)
        client = _client(nodes[home], name)
        assert client.get(f"/1.1/{name}/info/collections").json == written[name][0]
        assert client.get(f"/1.1/{name}/storage/bookmarks?full=1").json == written[name][1]
        leftover = nodes[away].services.storage.get_collection_timestamps(account.userid)
        assert leftover == {}, "source rows are deleted after the move"
    loads = {n.url: n.current_load for n in users.services.userdb.nodes.all()}
    assert loads == {N1: 1, N2: 4}


def test_deleting_an_account_deletes_its_data_on_its_node(cluster):
    users, nodes = cluster
    user = _new_user(users)
    node_url = webtest.TestApp(users).get(f"/user/1.0/{user.username}/node/weave").text
    _client(nodes[node_url], user.username).put_json(f"/1.1/{user.username}/storage/tabs/t", {"payload": "x"})
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    assert webtest.TestApp(users).delete(f"/user/1.0/{user.username}",
                                         headers={"Authorization": f"Basic {token}"}).text == "1"
    assert nodes[node_url].services.storage.get_collection_timestamps(user.userid) == {}
    assert users.services.userdb.nodes.get(node_url).current_load == 0
    never_synced = _new_user(users)  # no node: nothing stored anywhere
    token = base64.b64encode(f"{never_synced.username}:{PASSWORD}".encode()).decode()
    assert webtest.TestApp(users).delete(f"/user/1.0/{never_synced.username}",
                                         headers={"Authorization": f"Basic {token}"}).text == "1"
    assert users.services.userdb.get_user(never_synced.username) is None


def test_an_interrupted_move_leaves_nobody_moving(cluster, monkeypatch):
    """A failure in the middle of a batch: the users already moved stay moved, the others are
    served again from the source with their data, and a second run finishes the job."""
    from syncstorage.services import moves

    users, nodes = cluster
    users.services.userdb.nodes.update(N2, available=0)
    accounts = [_new_user(users) for _ in range(3)]
    for account in accounts:
        assert webtest.TestApp(users).get(f"/user/1.0/{account.username}/node/weave").text == N1
        _client(nodes[N1], account.username).put_json(f"/1.1/{account.username}/storage/tabs/t", {"payload": "x"})
    real_copy, calls = moves.copy_user, []

    def failing_copy(source, target, userid, batch_size):
        calls.append(userid)
        if len(calls) == 2:
            raise RuntimeError("lost the target database")
        return real_copy(source, target, userid, batch_size)
    monkeypatch.setattr(moves, "copy_user", failing_copy)
    with pytest.raises(RuntimeError):
        move_users(users.services, users.services.userdb.nodes.get(N1), users.services.userdb.nodes.get(N2), batch=3, settle=0,
                   log=lambda _m: None)
    states = [users.services.userdb.get_user(a.username) for a in accounts]
    assert [s.moving for s in states] == [False, False, False]
    assert [s.nodeid for s in states] == [users.services.userdb.nodes.get(N2).nodeid] + [users.services.userdb.nodes.get(N1).nodeid] * 2
    for account in accounts[1:]:
        assert _client(nodes[N1], account.username).get(f"/1.1/{account.username}/storage/tabs/t").json["payload"] == "x"

    monkeypatch.setattr(moves, "copy_user", real_copy)
    report = move_users(users.services, users.services.userdb.nodes.get(N1), users.services.userdb.nodes.get(N2), settle=0, log=lambda _m: None)
    assert report.users == 2
    for account in accounts:
        assert _client(nodes[N2], account.username).get(f"/1.1/{account.username}/storage/tabs/t").json["payload"] == "x"
