"""loadtest.lowrate measures server CPU per request at a low rate and back to back."""
import subprocess
import sys


def test_lowrate_reports_the_app_and_the_trivial_app(memcached):  # the fixture: memcached is installed
    proc = subprocess.run([sys.executable, "-m", "loadtest.lowrate", "--backend", "sqlite", "--requests", "10",
                           "--gap-ms", "5"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "µs" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| cached GET info/collections", "| trivial WSGI app"]
    assert all(row.count("µs") == 2 for row in rows)
