"""What goes wrong for an operator is one line saying what to do, and a non-zero exit."""
import os
import subprocess
import sys

import pytest

from loadtest.services import free_port

pytestmark = pytest.mark.services  # the command line in subprocesses


def syncstorage(*args, env=None, cwd=None, stdin=subprocess.DEVNULL):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSTORAGE_")}
    return subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", *args], capture_output=True, text=True,
                          env={**environ, **(env or {})}, cwd=cwd, stdin=stdin, timeout=120)


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if not line.startswith("syncstorage: using ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


DOWN = "mysql+pymysql://sync:secret@127.0.0.1:{port}/sync"


@pytest.mark.parametrize("args,env,expected,code", [
    (("--config", "missing.ini", "migrate"), {}, "no configuration file missing.ini", 2),
    (("config",), {"SYNCSTORAGE_STORAGE_SQLURL": "x"}, "did you mean SYNCSTORAGE_STORAGE_SQLURI?", 2),
    (("config",), {"SYNCSTORAGE_STORAGE_BATCH_MAX_COUNT": "-1"}, "batch_max_count", 2),
    (("serve",), {"SYNCSTORAGE_SERVER_THREADS": "0"}, "[server] threads", 2),
    (("config",), {"SYNCSTORAGE_STORAGE_QUOTA_KB": "lots"}, "quota_kb", 2),
    (("migrate",), {"SYNCSTORAGE_STORAGE_SQLURI": "DOWN"}, "cannot connect", 3),
    (("serve",), {"SYNCSTORAGE_STORAGE_SQLURI": "DOWN"}, "is the server running", 3),
    (("user", "add", "bob@example.com"), {}, "use --password-stdin", 2),
])
def test_one_line_errors(tmp_path, args, env, expected, code):
    env = {k: (DOWN.format(port=free_port()) if v == "DOWN" else v) for k, v in env.items()}
    result = syncstorage(*args, env=env, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    line = one_line(result)
    assert expected in line and "secret" not in line


def test_debug_shows_the_traceback(tmp_path):
    result = syncstorage("--debug", "--config", "missing.ini", "migrate", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_closed_pipe_is_not_an_error(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "syncstorage.ops.cli", "capacity"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in proc.stderr.read()


def test_without_options_every_command_uses_what_make_serve_serves(tmp_path):
    """The built-in default database is the one `make serve` (config/development.ini) serves."""
    from pathlib import Path

    from syncstorage.infra.config import load_settings

    dev = Path(__file__).resolve().parents[2] / "config" / "development.ini"
    assert load_settings(str(dev), environ={}).storage.sqluri == load_settings(environ={}).storage.sqluri
    assert syncstorage("migrate", cwd=tmp_path).returncode == 0
    added = subprocess.run(
        [sys.executable, "-m", "syncstorage.ops.cli", "user", "add", "bob@example.com", "--password-stdin"],
        input="a long password\n", capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("SYNCSTORAGE_")})
    assert added.returncode == 0, added.stderr
    assert "syncstorage: using sqlite:///var/syncstorage.db" in added.stderr
    assert (tmp_path / "var" / "syncstorage.db").exists()
    served = load_settings(str(dev), environ={})  # what the server run from this folder opens
    assert served.storage.sqluri == "sqlite:///var/syncstorage.db"


def test_node_urls_are_validated_and_empty_nodes_removed(tmp_path):
    assert syncstorage("migrate", cwd=tmp_path).returncode == 0
    refused = syncstorage("nodes", "add", "not-a-url", "--capacity", "10", cwd=tmp_path)
    assert refused.returncode != 0 and "not a host name" in one_line(refused)
    assert syncstorage("nodes", "add", "https://sync1.example.com", "--capacity", "10", cwd=tmp_path).returncode == 0
    assert syncstorage("nodes", "remove", "https://sync1.example.com/", cwd=tmp_path).returncode == 0
    assert "sync1" not in syncstorage("nodes", "list", cwd=tmp_path).stdout
    missing = syncstorage("nodes", "remove", "https://sync1.example.com/", cwd=tmp_path)
    assert missing.returncode != 0 and "no node" in one_line(missing)
