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
    assert cache.write("k", commit, lambda result: {"set": {result: 2}}) == "b"
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
        cache.write("k", lambda: (_ for _ in ()).throw(RuntimeError("rollback")), lambda r: {"all": "never"})
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
        cache.write("k", second_commit, lambda r: {"set": {r: 3}})
        db.value = {**db.value, "b": 2}
        return "b"
    cache.write("k", first, lambda r: {"set": {r: 2}})
    assert cache.read("k", db.load) == {"a": 1, "b": 2, "c": 3}


def test_settlements_landing_out_of_commit_order_are_not_applied(cache):
    """A commits, B commits the same key after it and settles first, A settles last:
    applied in log order the entry would hold A's older value; it is rebuilt instead."""
    db = Database({"k": 0})
    cache.read("k", db.load)

    def a_commits():
        db.value = {"k": 1}

        def b_commits():
            db.value = {"k": 2}
            return 2
        cache.write("k", b_commits, lambda r: {"set": {"k": r}})
        return 1  # A's settlement comes after B's
    cache.write("k", a_commits, lambda r: {"set": {"k": r}})
    assert cache.read("k", db.load) == {"k": 2}


def test_unreachable_memcached_falls_back(tmp_path):
    cache = CoherentCache(CacheClient(["127.0.0.1:1"], timeout=0.05))
    db = Database("v")
    assert cache.read("k", db.load) == "v" and cache.read("k", db.load) == "v" and db.loads == 2
    assert cache.write("k", lambda: "done", lambda r: {"all": r}) == "done"
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
        cache.write("k", lambda: setattr(db, "value", "new"), lambda r: {"all": "new"})  # unannounced
        assert cache.suspect
        server.resume()
        wait_for(lambda: not cache.suspect, 10, what="the entry voided after the outage")
        assert other_worker.read("k", db.load) == "new"
    finally:
        server.stop()


@pytest.fixture
def server():
    """A memcached of the test's own, to freeze (SIGSTOP) and resume."""
    server = start_service(Memcached)
    yield server
    server.stop()


def _worker(server: Memcached, clock=None) -> CoherentCache:
    """One worker's coherent cache on ``server`` (its hold-off on ``clock`` when given)."""
    client = CacheClient([server.address], timeout=0.1) if clock is None else \
        CacheClient([server.address], timeout=0.1, clock=clock)
    return CoherentCache(client)


def _answers(client: CacheClient) -> bool:
    """memcached serves this thread's connection again (asked directly, past any hold-off)."""
    import pylibmc

    try:
        client.client.get("probe")
    except pylibmc.Error:
        return False
    return True


class Clock:
    """The hold-off's clock, moved by the test."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _back(server: Memcached, client: CacheClient, clock: Clock) -> None:
    """memcached resumed, answering this thread, and the thread's hold-off over."""
    from syncstorage.infra.memcache import HOLD_OFF

    server.resume()
    wait_for(lambda: _answers(client), 10, what="memcached to answer this thread")
    clock.now += HOLD_OFF


def _epoch(server: Memcached, cache: CoherentCache):
    """The epoch, read through a client of its own (the cache's may still hold the server off)."""
    import pylibmc

    return pylibmc.Client([server.address]).get(cache._key("epoch"))


@pytest.mark.services
def test_an_outage_voids_the_entries_written_during_it_and_no_others(server):
    """A timeout under load must not cost the whole cache: the other entries stay hits."""
    cache = _worker(server)
    other_worker = _worker(server)
    written, untouched = Database("old"), Database("kept")
    assert other_worker.read("written", written.load) == "old"
    assert other_worker.read("untouched", untouched.load) == "kept"
    epoch = _epoch(server, cache)
    server.pause()
    cache.write("written", lambda: setattr(written, "value", "new"), lambda r: {"all": "new"})
    assert cache.suspect
    server.resume()
    wait_for(lambda: not cache.suspect, 10, what="the entry voided after the outage")
    assert other_worker.read("written", written.load) == "new"
    assert other_worker.read("untouched", untouched.load) == "kept" and untouched.loads == 1
    assert _epoch(server, cache) == epoch


@pytest.mark.services
def test_a_settlement_that_failed_after_its_announcement_is_voided_once_memcached_answers(server):
    cache = _worker(server)
    other_worker = _worker(server)
    db = Database("old")
    assert other_worker.read("k", db.load) == "old"

    def commit_while_memcached_is_frozen():
        server.pause()
        db.value = "new"

    cache.write("k", commit_while_memcached_is_frozen, lambda r: {"all": "new"})
    assert cache.suspect
    server.resume()
    wait_for(lambda: not cache.suspect, 10, what="the entry voided after the outage")
    assert other_worker.read("k", db.load) == "new"


@pytest.mark.services
def test_an_unannounced_write_whose_settlement_lands_leaves_nothing_to_recover(server):
    """The settlement of a write the log did not announce voids the entry by itself."""
    clock = Clock()
    cache = _worker(server, clock)
    other_worker = _worker(server)
    db = Database("old")
    assert other_worker.read("k", db.load) == "old"

    def commit_once_memcached_answers():
        _back(server, cache.client, clock)
        db.value = "new"

    server.pause()
    cache.write("k", commit_once_memcached_answers, lambda r: {"all": "new"})
    assert not cache.suspect
    assert other_worker.read("k", db.load) == "new"


@pytest.mark.services
def test_failed_reads_leave_every_entry_valid(server):
    clock = Clock()
    cache = _worker(server, clock)
    db = Database("v")
    assert cache.read("k", db.load) == "v"
    server.pause()
    assert cache.read("k", db.load) == "v" and db.loads == 2  # from the database
    assert not cache.suspect
    _back(server, cache.client, clock)
    assert cache.read("k", db.load) == "v" and db.loads == 2  # the entry is still a hit


@pytest.mark.services
def test_more_entries_left_stale_than_a_process_remembers_bump_the_epoch(server, monkeypatch):
    from syncstorage.infra import memcache

    monkeypatch.setattr(memcache, "MAX_PENDING", 2)
    clock = Clock()
    cache = _worker(server, clock)
    untouched = Database("kept")
    assert cache.read("untouched", untouched.load) == "kept"
    epoch = _epoch(server, cache)
    server.pause()
    for name in ("a", "b", "c"):
        cache.write(name, lambda: None)
    _back(server, cache.client, clock)
    wait_for(lambda: not cache.suspect, 10, what="the epoch bump after the outage")
    assert int(_epoch(server, cache)) == int(epoch) + 1
    assert cache.read("untouched", untouched.load) == "kept" and untouched.loads == 2  # rebuilt


@pytest.mark.services
def test_a_failed_invalidation_is_done_once_memcached_answers(server):
    clock = Clock()
    cache = _worker(server, clock)
    db = Database("old")
    assert cache.read("k", db.load) == "old"
    server.pause()
    db.value = "moved"
    cache.invalidate("k")
    assert cache.suspect
    _back(server, cache.client, clock)
    wait_for(lambda: not cache.suspect, 10, what="the invalidation after the outage")
    assert cache.read("k", db.load) == "moved" and db.loads == 2
    assert cache.read("k", db.load) == "moved" and db.loads == 2  # filled again, a hit


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


def test_a_write_makes_two_round_trips_and_no_read(cache):
    """An append before the transaction, an append after it: no gets, no epoch fetch,
    with or without the request's prefetch."""
    from syncstorage.infra.memcache import clear_prefetched, prefetch
    db = Database({"a": 1})
    cache.read("k", db.load)
    before = _commands(cache)
    cache.write("k", lambda: "b", lambda result: {"set": {result: 2}})
    prefetch(cache.client, [(cache, "k")])
    try:
        middle = _commands(cache)
        cache.write("k", lambda: "c", lambda result: {"set": {result: 3}})
        after = _commands(cache)
    finally:
        clear_prefetched()
    assert {name: middle[name] - before[name] for name in after} == {"get": 2, "set": 2}  # 2 = the prefetch
    assert {name: after[name] - middle[name] for name in after} == {"get": 0, "set": 2}
    assert cache.read("k", db.load) == {"a": 1, "b": 2, "c": 3} and db.loads == 1


def test_a_writer_that_died_blocks_fills_for_its_grace_then_the_entry_is_rebuilt(memcached):
    clock = [1000.0]
    cache = CoherentCache(CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:"), grace=5,
                          clock=lambda: clock[0])
    db = Database("before")
    cache.read("k", db.load)

    def dies_after_commit():
        db.value = "after"
        raise SystemExit  # stands for a process killed between its commit and its settlement
    with pytest.raises(SystemExit):
        from unittest import mock
        with mock.patch.object(cache, "_settle"):
            cache.write("k", dies_after_commit, lambda r: {"all": r})
    assert cache.read("k", db.load) == "after" and cache.read("k", db.load) == "after"
    assert db.loads == 3  # in flight: every read goes to the database, none fills
    clock[0] += 5.001
    assert cache.read("k", db.load) == "after" and db.loads == 4  # rebuilt ...
    assert cache.read("k", db.load) == "after" and db.loads == 4  # ... and served


def test_a_fill_made_while_the_entry_was_gone_is_voided_by_the_settlement(cache):
    """The entry vanishes (evicted) between a write's announcement and its settlement,
    and a reader fills from what it read before the commit: the settlement voids it."""
    db = Database("before")
    cache.read("k", db.load)

    def commit():
        cache.client.client.delete(cache.client.key("k"))  # evicted
        assert cache.read("k", db.load) == "before"  # fills the old value
        db.value = "after"
    cache.write("k", commit, lambda r: {"all": "after"})
    assert cache.read("k", db.load) == "after"


def test_a_fill_landing_after_the_settlement_of_a_vanished_entry_is_refused(cache):
    """The entry vanishes before the settlement, and a reader that loaded before the
    commit fills only after it: the settlement left a void head, so the fill (add) fails."""
    import threading
    db = Database("before")
    cache.read("k", db.load)
    loaded, settled = threading.Event(), threading.Event()
    seen = []

    def reader_load():
        value = db.load()
        loaded.set()
        settled.wait(10)
        return value

    def commit():
        cache.client.client.delete(cache.client.key("k"))  # evicted
        reader.start()
        loaded.wait(10)
        db.value = "after"
    reader = threading.Thread(target=lambda: seen.append(cache.read("k", reader_load)))
    cache.write("k", commit, lambda r: {"all": "after"})
    settled.set()
    reader.join(10)
    assert seen == ["before"]
    assert cache.read("k", db.load) == "after"


def test_a_settlement_the_log_did_not_announce_voids_it(memcached):
    """A slow writer outlives its grace; a reader rebuilds meanwhile; the writer's
    late settlement must not be applied to a value that may or may not hold its commit."""
    clock = [1000.0]
    cache = CoherentCache(CacheClient([memcached.address], prefix=f"t{uuid.uuid4().hex[:8]}:"), grace=5,
                          clock=lambda: clock[0])
    db = Database({"a": 1})
    cache.read("k", db.load)

    def slow_commit():
        clock[0] += 6
        assert cache.read("k", db.load) == {"a": 1}  # past the grace: rebuilt from the database
        db.value = {"a": 1, "b": 2}
        return "b"
    cache.write("k", slow_commit, lambda r: {"set": {r: 2}})
    loads = db.loads
    assert cache.read("k", db.load) == {"a": 1, "b": 2} and db.loads == loads + 1


def test_a_long_log_is_compacted_by_a_reader(cache):
    from syncstorage.infra.memcache import COMPACT_AFTER
    db = Database({})
    cache.read("k", db.load)
    for n in range(COMPACT_AFTER // 2):
        cache.write("k", lambda n=n: str(n), lambda r: {"set": {r: int(r)}})
    raw = cache.client.client.get(cache.client.key("k"))
    assert raw.count('"w"') == COMPACT_AFTER // 2
    expected = {str(n): n for n in range(COMPACT_AFTER // 2)}
    assert cache.read("k", db.load) == expected and db.loads == 1
    assert json.loads(cache.client.client.get(cache.client.key("k")))["v"] == expected  # one head, no events
    assert cache.read("k", db.load) == expected and db.loads == 1


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
        cache.write("k", lambda: "done", lambda r: {"all": r})
    lines = [r for r in caplog.records if "memcached" in r.getMessage()]
    assert db.loads == 300 and 1 <= len(lines) <= 6  # one per kind of operation at most


def test_keys_are_remembered_for_short_names_only():
    client = CacheClient(["127.0.0.1:1"], prefix="p:")  # no server needed: keys are made locally
    for _ in range(2):
        assert client.key("user:alice") == "p:user:alice"
        assert client.key("user:\u00e9").startswith("p:h:")  # not ASCII: hashed
    assert client._remembered_key.cache_info().hits >= 2
    long_name = "user:" + "x" * 10000  # a client's user name in Basic credentials
    kept = client._remembered_key.cache_info().currsize
    assert client.key(long_name).startswith("p:h:") and len(client.key(long_name)) <= 250
    assert client._remembered_key.cache_info().currsize == kept


@pytest.mark.parametrize("name", ["a b", "a\r\nflush_all", "k\r\nset other 0 0 1\r\nX", "a\nb", "\x00", "a\tb",
                                  "\x7f", "\u00e9\r\n", "x" * 300 + "\r\nflush_all"])
def test_hostile_names_stay_one_key_in_memcacheds_text_protocol(cache, name):
    """memcached's text protocol ends a key at a space and a command at a line end: a name
    holding either (clients choose user names) must neither split into two keys nor run a
    command.  Its entry is stored and read back under its own key, and another entry survives."""
    other = Database({"other": 1})
    cache.read("other", other.load)
    db = Database({"name": name})
    assert cache.read(name, db.load) == {"name": name}
    assert cache.read(name, db.load) == {"name": name} and db.loads == 1
    assert cache.read("other", other.load) == {"other": 1} and other.loads == 1  # nothing flushed or replaced


@pytest.mark.services
@pytest.mark.parametrize("read", [("get", "k"), ("gets", "k"), ("get_multi", ["k"])])
def test_a_failed_call_drops_the_connection_and_holds_the_thread_off(read):
    """After a failure no reply can be read off the old connection, and an outage costs a
    thread one timeout per HOLD_OFF, not one per call."""
    import pylibmc

    from syncstorage.infra.memcache import HOLD_OFF, HeldOff

    server = start_service(Memcached)
    try:
        now = [0.0]
        client = CacheClient([server.address], timeout=0.1, clock=lambda: now[0])
        client.call("set", "k", "v")
        connection = client.client
        server.pause()
        with pytest.raises(pylibmc.Error):  # pylibmc alone would answer a miss
            client.call(*read)
        server.resume()
        with pytest.raises(HeldOff):
            client.call("get", "k")
        now[0] += HOLD_OFF
        assert client.call("get", "k") == "v"
        assert client.client is not connection  # a new connection: nothing late read off the old one
        with pytest.raises(pylibmc.NotFound):  # an answer, not a failure: no hold-off
            client.call("incr", "missing", 1)
        assert client.call("get", "k") == "v"
    finally:
        server.stop()


def test_an_epoch_that_is_not_a_number_fails_over_to_the_database(cache):
    """A reply meant for another key once stood in for the epoch: a miss, not a crash."""
    db = Database("v")
    cache.client.call("set", cache._key("epoch"), '{"s":"clean","e":1,"v":{"userid":5}}')
    assert cache.read("k", db.load) == "v" and db.loads == 1
