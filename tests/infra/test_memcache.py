"""The coherence protocol against a real memcached, step by step."""
import json
import uuid

import pytest

from loadtest.services import Memcached, wait_for
from syncstorage.infra.memcache import CacheClient, CoherentCache

from ..conftest import start_service


@pytest.fixture
def cache(memcached):
    return CoherentCache(CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:"), grace=5)


class Database:
    """The source of truth the cache fronts, with a count of loads."""

    def __init__(self, value):
        self.value, self.loads = value, 0

    def load(self):
        self.loads += 1
        return self.value


def test_read_through_then_hits(cache):
    db = Database({"a": 1})
    assert cache.read("k", db.load) == {"a": 1}
    assert cache.read("k", db.load) == {"a": 1}
    assert db.loads == 1


def test_write_updates_the_entry_from_its_base(cache):
    db = Database({"a": 1})
    cache.read("k", db.load)

    def commit():
        db.value = {"a": 1, "b": 2}
        return "b"
    assert cache.write("k", commit, lambda base, result: {**base, result: 2}) == "b"
    assert cache.read("k", db.load) == {"a": 1, "b": 2}
    assert db.loads == 1  # updated in place, no rebuild


def test_write_without_update_makes_the_next_read_rebuild(cache):
    db = Database("old")
    cache.read("k", db.load)
    cache.write("k", lambda: setattr(db, "value", "new"))
    assert cache.read("k", db.load) == "new" and db.loads == 2


def test_failed_write_leaves_nothing_stale(cache):
    db = Database("v1")
    cache.read("k", db.load)
    with pytest.raises(RuntimeError):
        cache.write("k", lambda: (_ for _ in ()).throw(RuntimeError("rollback")), lambda b, r: "never")
    assert cache.read("k", db.load) == "v1"


def test_a_reader_never_fills_over_a_write_in_flight(cache):
    db = Database("before")
    cache.read("k", db.load)
    seen = []

    def commit():
        # another worker reads while this transaction runs: it must go to the
        # database and must not cache what it read
        seen.append(cache.read("k", db.load))
        db.value = "after"
    cache.write("k", commit)
    assert seen == ["before"]
    assert cache.read("k", db.load) == "after"


def test_a_stale_fill_racing_a_write_is_overwritten_before_the_write_returns(cache):
    db = Database("before")

    def slow_reader_load():
        # the reader read the database before the write committed ...
        value = db.load()
        # ... and the write commits while the reader is still on its way to fill
        cache.write("k", lambda: setattr(db, "value", "after"))
        return value
    assert cache.read("k", slow_reader_load) == "before"
    assert cache.read("k", db.load) == "after"


def test_concurrent_writers_do_not_lose_each_other(cache):
    db = Database({"a": 1})
    cache.read("k", db.load)

    def first():
        def second_commit():
            db.value = {**db.value, "c": 3}
            return "c"
        # a second writer starts and finishes inside the first one's transaction
        cache.write("k", second_commit, lambda base, r: {**base, r: 3})
        db.value = {**db.value, "b": 2}
        return "b"
    cache.write("k", first, lambda base, r: {**base, r: 2})
    assert cache.read("k", db.load) == {"a": 1, "b": 2, "c": 3}


def test_unreachable_memcached_falls_back(tmp_path):
    cache = CoherentCache(CacheClient(["127.0.0.1:1"], timeout=0.05))
    db = Database("v")
    assert cache.read("k", db.load) == "v" and cache.read("k", db.load) == "v" and db.loads == 2
    assert cache.write("k", lambda: "done", lambda b, r: r) == "done"
    assert cache.suspect


def test_entries_from_before_an_outage_are_void_after_it(memcached):
    """A write while memcached is frozen must not leave the old entry servable afterwards."""
    server = start_service(Memcached)
    try:
        cache = CoherentCache(CacheClient([server.address], timeout=0.1))
        other_worker = CoherentCache(CacheClient([server.address], timeout=0.1))
        db = Database("old")
        assert other_worker.read("k", db.load) == "old"
        server.pause()
        cache.write("k", lambda: setattr(db, "value", "new"), lambda b, r: "new")  # unannounced
        assert cache.suspect
        server.resume()
        wait_for(lambda: not cache.suspect, 10, what="the epoch bump after the outage")
        assert other_worker.read("k", db.load) == "new"
    finally:
        server.stop()


@pytest.mark.services
def test_memcached_restarted_empty_is_handled():
    server = start_service(Memcached)
    try:
        cache = CoherentCache(CacheClient([server.address], timeout=0.1))
        db = Database("v1")
        cache.read("k", db.load)
        port = server.port
        server.stop()
        cache.write("k", lambda: setattr(db, "value", "v2"))
        server = Memcached(port=port).start()
        wait_for(lambda: not cache.suspect, 10, what="recovery after the restart")
        assert cache.read("k", db.load) == "v2"
    finally:
        server.stop()


def test_entries_are_json_not_pickles(cache, memcached):
    cache.read("k", lambda: {"x": [1, 2]})
    raw = cache.client.client.get(cache.client.key("k"))
    assert json.loads(raw)["v"] == {"x": [1, 2]}


def test_databases_sharing_memcached_do_not_collide(memcached):
    client = CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:")
    node_a, node_b = CoherentCache(client, namespace="a:"), CoherentCache(client, namespace="b:")
    assert node_a.read("meta:5", lambda: "user 5 on a") == "user 5 on a"
    assert node_b.read("meta:5", lambda: "user 5 on b") == "user 5 on b"
    assert node_a.read("meta:5", lambda: "reloaded") == "user 5 on a"


@pytest.mark.services
def test_prefetched_entries_answer_without_another_round_trip():
    """One get_multi fetches several entries; reads in the same request use it."""
    server = start_service(Memcached)
    from syncstorage.infra.memcache import clear_prefetched, prefetch
    try:
        client = CacheClient([server.address], timeout=0.1)
        users, meta = CoherentCache(client, namespace="u:"), CoherentCache(client, namespace="m:")
        users.read("user:bob", lambda: {"userid": 5})
        meta.read("meta:5", lambda: {"c": [1, 1, 1, 1]})
        prefetch(client, [(users, "user:bob"), (meta, "meta:5")])
        server.pause()  # from here on any memcached call would fail
        assert users.read("user:bob", lambda: "database") == {"userid": 5}
        assert meta.read("meta:5", lambda: "database") == {"c": [1, 1, 1, 1]}
        assert not users.suspect and not meta.suspect
        clear_prefetched()
        assert users.read("user:bob", lambda: "database") == "database"  # now it had to ask, and failed over
    finally:
        server.stop()


def _commands(cache) -> dict[str, int]:
    """memcached's own counts of keys read and of stores (set, cas, add)."""
    stats = cache.client.client.get_stats()[0][1]
    return {"get": int(stats["cmd_get"]), "set": int(stats["cmd_set"])}


def test_a_write_after_the_requests_prefetch_makes_four_round_trips(cache):
    """gets + cas of the marker, the transaction, gets + cas of the updated value: the
    epoch comes from the request's prefetch, not from a round trip of its own."""
    from syncstorage.infra.memcache import clear_prefetched, prefetch
    db = Database({"a": 1})
    cache.read("k", db.load)
    prefetch(cache.client, [(cache, "k")])
    try:
        before = _commands(cache)
        cache.write("k", lambda: "b", lambda base, result: {**base, result: 2})
        after = _commands(cache)
    finally:
        clear_prefetched()
    assert {name: after[name] - before[name] for name in after} == {"get": 2, "set": 2}
    assert cache.read("k", db.load) == {"a": 1, "b": 2} and db.loads == 1


def test_an_outage_is_said_once_per_interval_with_a_count(caplog):
    """Every request of an outage fails the same way: one line per interval, not one per request."""
    import logging

    from syncstorage.infra import memcache

    clock = [100.0]
    warnings = memcache.ThrottledWarnings(logging.getLogger("syncstorage.cache"), interval=10,
                                          clock=lambda: clock[0])
    caplog.set_level(logging.WARNING, logger="syncstorage.cache")
    for _ in range(500):
        warnings.warning("get_multi", "memcached %s failed: %s", "get_multi", "connection refused")
    assert len(caplog.records) == 1 and warnings.held() == 499
    clock[0] += 10
    warnings.warning("get_multi", "memcached %s failed: %s", "get_multi", "connection refused")
    assert len(caplog.records) == 2 and warnings.held() == 0
    assert caplog.records[1].getMessage() == (
        "memcached get_multi failed: connection refused (and 499 more like it in the last 10 s)")
    warnings.warning("set", "memcached %s failed: %s", "set", "timeout")  # another kind is said at once
    assert len(caplog.records) == 3


def test_a_real_outage_writes_a_few_lines_not_thousands(caplog, monkeypatch):
    import logging

    from syncstorage.infra import memcache

    caplog.set_level(logging.WARNING, logger="syncstorage.cache")
    monkeypatch.setattr(memcache, "OUTAGE_WARNINGS", memcache.ThrottledWarnings(memcache.log))
    cache = CoherentCache(CacheClient(["127.0.0.1:1"], timeout=0.05))
    db = Database("v")
    for _ in range(300):
        cache.read("k", db.load)
        cache.write("k", lambda: "done", lambda b, r: r)
    lines = [r for r in caplog.records if "memcached" in r.getMessage()]
    assert db.loads == 300 and 1 <= len(lines) <= 6  # one per kind of operation at most
