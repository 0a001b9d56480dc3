"""loadtest.hotpath measures the app's in-process cost of a cached info/collections."""
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
    assert "cached GET info/collections:" in proc.stdout and "function calls" in proc.stdout
