"""loadtest.run's server-side figures: statements, hit ratio and CPU per completed session."""
import os

from loadtest.run import cpu_seconds, server_figures


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
    used = cpu_seconds({"me": [os.getpid()]})["me"]
    assert used > 0
