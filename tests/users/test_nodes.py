"""Nodes and assignment on real databases: fairness, capacity, downed and draining nodes, races."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from syncstorage.infra.dbengine import create_engine
from syncstorage.users.nodes import NodeDirectory, NodeFull, normalise_node_url
from syncstorage.users.sql import UserDB

from ..conftest import BACKENDS, new_username


@pytest.fixture(params=BACKENDS)
def userdb(request, make_database):
    engine = create_engine(make_database(request.param, role="users"), pool_size=16, max_overflow=16)
    yield UserDB(engine)
    engine.dispose()


def _users(userdb, n):
    return [userdb.create_user(new_username(), None, "{SSCRYPT}x") for _ in range(n)]


def _loads(userdb):
    return {node.url: node.current_load for node in userdb.nodes.all()}


def test_urls_are_normalised():
    assert normalise_node_url("sync1.example.com") == "https://sync1.example.com/"
    assert normalise_node_url(" http://127.0.0.1:8081 ") == "http://127.0.0.1:8081/"


def test_assignment_takes_the_least_loaded_node_and_keeps_it(userdb):
    a = userdb.nodes.add("https://a.example/", capacity=10)
    b = userdb.nodes.add("https://b.example", capacity=30)
    assert b.url == "https://b.example/"
    users = _users(userdb, 4)
    assigned = [userdb.assign_node(u).url for u in users]
    # ratios: b 0/30 < a 0/10 ties go to the lower id: a first, then b thrice (1/10 > 1/30, 2/30, 3/30)
    assert assigned == [a.url, b.url, b.url, b.url]
    assert userdb.assign_node(users[0]).url == a.url  # kept
    assert _loads(userdb) == {a.url: 1, b.url: 3}
    assert userdb.get_user(users[1].username).nodeid == b.nodeid
    assert userdb.nodes.user_counts() == {a.nodeid: 1, b.nodeid: 3}


def test_no_node_with_room_gives_none(userdb):
    assert userdb.assign_node(_users(userdb, 1)[0]) is None  # no nodes at all
    node = userdb.nodes.add("https://only.example/", capacity=1)
    first, second = _users(userdb, 2)
    assert userdb.assign_node(first).url == node.url
    assert userdb.assign_node(second) is None
    assert userdb.get_user(second.username).nodeid is None


def test_a_downed_node_loses_its_users_to_others(userdb):
    a = userdb.nodes.add("https://a.example/", capacity=5)
    user = _users(userdb, 1)[0]
    assert userdb.assign_node(user).url == a.url
    b = userdb.nodes.add("https://b.example/", capacity=5)
    assert userdb.assign_node(user).url == a.url  # a is up: no reassignment
    userdb.nodes.update(a.url, downed=1)
    assert userdb.assign_node(user).url == b.url
    assert _loads(userdb) == {a.url: 0, b.url: 1}


def test_a_draining_node_keeps_its_users_but_takes_no_new_ones(userdb):
    a = userdb.nodes.add("https://a.example/", capacity=5)
    old = _users(userdb, 1)[0]
    userdb.assign_node(old)
    userdb.nodes.update(a.url, available=0)
    assert userdb.assign_node(old).url == a.url
    assert userdb.assign_node(_users(userdb, 1)[0]) is None


def test_deleting_an_account_frees_its_place(userdb):
    a = userdb.nodes.add("https://a.example/", capacity=5)
    user = _users(userdb, 1)[0]
    userdb.assign_node(user)
    userdb.delete_user(userdb.get_user(user.username))
    assert _loads(userdb) == {a.url: 0}


def test_reassignment_refuses_a_full_or_downed_target(userdb):
    a = userdb.nodes.add("https://a.example/", capacity=5)
    b = userdb.nodes.add("https://b.example/", capacity=1)
    first, second = _users(userdb, 2)
    userdb.move_to_node(first, b.nodeid)
    with pytest.raises(NodeFull):
        userdb.move_to_node(second, b.nodeid)
    userdb.nodes.update(a.url, downed=1)
    with pytest.raises(NodeFull):
        userdb.move_to_node(second, a.nodeid)
    assert _loads(userdb) == {a.url: 0, b.url: 1}


def test_parallel_new_users_spread_in_proportion_to_capacity(userdb):
    """1,000 new users asking at once, 16 at a time, over nodes of capacity 300/600/300."""
    caps = {"https://n1.example/": 300, "https://n2.example/": 600, "https://n3.example/": 300}
    for url, cap in caps.items():
        userdb.nodes.add(url, capacity=cap)
    users = _users(userdb, 1000)
    with ThreadPoolExecutor(16) as pool:
        assigned = list(pool.map(lambda u: userdb.assign_node(u).url, users))
    loads = _loads(userdb)
    counts = {url: assigned.count(url) for url in caps}
    assert counts == loads
    assert sum(loads.values()) == 1000
    for url, cap in caps.items():
        share = 1000 * cap / sum(caps.values())
        assert abs(loads[url] - share) <= 2, (url, loads)
    by_node = userdb.nodes.user_counts()
    assert sorted(by_node.values()) == sorted(loads.values())


def test_parallel_assignment_never_exceeds_capacity(userdb):
    """More users than places: every place is taken, no node goes over, the rest get None."""
    userdb.nodes.add("https://a.example/", capacity=70)
    userdb.nodes.add("https://b.example/", capacity=30)
    users = _users(userdb, 160)
    with ThreadPoolExecutor(16) as pool:
        assigned = list(pool.map(lambda u: userdb.assign_node(u), users))
    assert sum(1 for node in assigned if node is None) == 60
    assert _loads(userdb) == {"https://a.example/": 70, "https://b.example/": 30}
    assert sum(userdb.nodes.user_counts().values()) == 100


def test_directory_rereads_the_table_after_its_refresh(userdb):
    now = [0.0]
    directory = NodeDirectory(userdb.nodes, refresh=2.0, clock=lambda: now[0])
    assert not directory.any()
    node = userdb.nodes.add("https://a.example/", capacity=5)
    assert not directory.any()  # still the snapshot
    now[0] = 2.5
    assert directory.by_url("https://a.example").nodeid == node.nodeid
    assert directory.by_id(node.nodeid).url == node.url
    assert directory.by_id(None) is None


@pytest.mark.parametrize("url", ["not-a-url", "ftp://node.example.com/", "https://", "http://node.example.com/?x=1",
                                 "https://node.example.com:99999/", "https://exa mple.com/"])
def test_node_urls_clients_could_not_use_are_refused(url):
    from syncstorage.users.nodes import validated_node_url

    with pytest.raises(ValueError):
        validated_node_url(url)


@pytest.mark.parametrize("url,expected", [("sync1.example.com", "https://sync1.example.com/"),
                                          ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
                                          ("http://localhost:8000/", "http://localhost:8000/"),
                                          ("https://[::1]:8443/", "https://[::1]:8443/")])
def test_node_urls_are_normalised(url, expected):
    from syncstorage.users.nodes import validated_node_url

    assert validated_node_url(url) == expected
