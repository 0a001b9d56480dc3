"""The command line run as an operator runs it: an ini file over a test database, and the
``syncstorage`` command in a subprocess."""
import subprocess
import sys

import pytest

from ..conftest import SHARDS


@pytest.fixture
def config(tmp_path, backend_url):
    """An ini file naming the test database (each backend in turn)."""
    path = tmp_path / "cli.ini"
    path.write_text(f"[storage]\nsqluri = {backend_url}\nshards = {SHARDS}\n[node]\nurl = http://node/\n")
    return str(path)


def run(config, *args, stdin=None):
    """``syncstorage --config CONFIG ARGS...`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "--config", config, *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
