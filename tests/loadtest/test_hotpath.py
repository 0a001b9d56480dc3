"""loadtest.hotpath measures the app's in-process cost of the hot paths beside their baselines."""
import json
import subprocess
import sys


def test_hotpath_reports_the_app_and_the_trivial_app(tmp_path, memcached):  # the fixture: memcached is installed
    out = tmp_path / "hotpath.json"
    # its own process: it chooses prometheus_client's multiprocess mode and the log handlers at import
    proc = subprocess.run([sys.executable, "-m", "loadtest.hotpath", "--backend", "sqlite", "--requests", "200",
                           "--profile", "5", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["app_us"] > 0 and result["trivial_us"] > 0  # measured; how they compare is the benchmark's job
    assert set(result["paths"]) == {"info", "post", "get", "unchanged"}
    assert all(p["app_us"] > 0 and p["baseline_us"] > 0 for p in result["paths"].values())
    for line in ("cached GET info/collections:", "POST 100 records (500 B):", "raw 100-row upsert:",
                 "raw 100-row upsert with the server's literals:",
                 "GET 100 full records:", "raw 100-row range read:", "function calls",
                 "GET history?newer= (nothing newer):",
                 "stack floor + one memcached get_multi (loadtest/floor_app.py):"):
        assert line in proc.stdout
    for kind in ("info", "unchanged"):
        assert result["paths"][kind]["baselines_us"]["stack floor + one memcached get_multi (loadtest/floor_app.py)"] > 0


def test_instruction_children_get_the_options_but_their_own_path_and_count():
    from loadtest.hotpath import child_arguments, run_measured

    assert child_arguments(["--instructions", "--backend", "sqlite", "--paths", "post,get", "--requests=5"]) == \
        ["--backend", "sqlite"]
    seen = []
    run_measured([(seen.append, 1), (seen.append, 2)])
    assert seen == [1, 2]


def test_strace_tables_read_as_calls_per_system_call():
    from loadtest.hotpath import parse_strace_table, syscalls_line

    table = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 59.25    0.002385           2       801           sendto
 38.11    0.001534           2       604         2 recvfrom
  0.07    0.000003           3         1           kill
------ ----------- ----------- --------- --------- ----------------
100.00    0.004025           2      1406         2 total
"""
    assert parse_strace_table(table) == {"sendto": 801, "recvfrom": 604, "kill": 1}
    assert syscalls_line("GET", {"sendto": 4.0, "recvfrom": 3.02, "kill": 0.01}) == \
        "GET: 7.0 system calls per call (sendto 4.0, recvfrom 3.0)"
