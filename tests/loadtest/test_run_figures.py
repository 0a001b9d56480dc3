"""loadtest.run's server-side figures: statements, hit ratio and CPU per completed session."""
import os

from loadtest.run import cpu_seconds, memcached_commands, server_figures


def test_cpu_per_session_in_total_and_per_part(tmp_path):
    (tmp_path / "sessions.csv").write_text("time,users,sessions\n1,2,30\n2,2,20\n")
    after = {"syncstorage_sql_statements_total": 150.0,
             "syncstorage_cache_requests_total{kind=user,result=hit}": 9.0,
             "syncstorage_cache_requests_total{kind=user,result=miss}": 1.0}
    figures = server_figures({}, after, tmp_path, {"app": 1.0, "database": 0.25})
    assert figures["sessions"] == 50 and figures["sql_statements_per_session"] == 3
    assert figures["cache_hit_ratio"] == 0.9
    assert figures["cpu_ms_per_session"] == {"app": 20.0, "database": 5.0, "total": 25.0}


def test_cpu_seconds_reads_this_process():
    used = cpu_seconds({"me": os.getpid()})["me"]
    assert used > 0


def test_memcached_commands_and_writes_per_session(tmp_path):
    (tmp_path / "sessions.csv").write_text("time,users,sessions\n1,2,10\n")
    before = {"syncstorage_requests_total{method=POST,route=collection,status=200}": 5.0}
    after = {"syncstorage_requests_total{method=POST,route=collection,status=200}": 15.0,
             "syncstorage_requests_total{method=GET,route=collection,status=200}": 40.0,
             "syncstorage_requests_total{method=DELETE,route=item,status=200}": 5.0}
    commands = memcached_commands({"cmd_get": 100, "cmd_set": 7, "incr_hits": 1},
                                  {"cmd_get": 130, "cmd_set": 37, "incr_hits": 2, "delete_misses": 1, "pid": 3})
    assert commands == {"keys read": 30, "stores": 30, "other": 2}
    figures = server_figures(before, after, tmp_path, None, commands)
    assert figures["write_requests"] == 15
    assert figures["memcached_per_session"] == {"keys read": 3.0, "stores": 3.0, "other": 0.2}


def test_a_memcached_reports_its_own_counts(memcached):
    import pylibmc
    before = memcached.stats()
    client = pylibmc.Client([memcached.address], binary=True)
    client.set("k", "v")
    client.get_multi(["k", "other"])
    counts = memcached_commands(before, memcached.stats())
    assert counts == {"keys read": 2, "stores": 1, "other": 0}
