"""A new operator's first hour, with the commands as README.md and docs/runbook.md word them:
create the database and its user (README), migrate and serve with production.ini, sync as a client
would, then add a node, drain it, mark it down and remove it (runbook §3-4), and reload with HUP (§2)."""
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from loadtest.services import MariaDB, free_port, wait_for

from ..conftest import start_service

pytestmark = pytest.mark.services  # MariaDB, a server and the command line in subprocesses

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "walk-secret"


def readme_block(after: str) -> list[str]:
    """The indented lines of README.md's first code block after the line ``after``."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(after) + 1
    block = []
    for line in lines[start:]:
        if line.startswith("    "):
            block.append(line.strip())
        elif block and line.strip():
            break
    return block


def test_readme_then_runbook_as_written(tmp_path):
    mariadb = start_service(MariaDB)
    try:
        with mariadb.root_connection() as conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost", "%"):  # the helper's own user: a new server has none
                cur.execute(f"DROP USER IF EXISTS '{MariaDB.USER}'@'{host}'")
            for statement in readme_block("## MySQL / MariaDB"):  # CREATE DATABASE / USER, GRANT
                cur.execute(statement.replace("'...'", f"'{PASSWORD}'").rstrip(";"))
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNCSTORAGE_")},
               "SYNCSTORAGE_STORAGE_SQLURI": f"mysql+pymysql://sync:{PASSWORD}@127.0.0.1:{mariadb.port}/syncstorage"}

        def syncstorage(*args):
            result = subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "--config", "production.ini", *args],
                                    capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
            assert result.returncode == 0, (args, result.stderr)
            return result.stdout

        syncstorage("migrate")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "syncstorage.ops.cli", "--config", "production.ini", "serve"],
                                  env={**env, "PORT": str(port)}, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: urllib.request.urlopen(base + "/__heartbeat__", timeout=2).status == 200, 60,
                     interval=0.2, what="the server")
            # README, "Try it as a client would"
            name = "kismw365lo7emoxr3ohojgpild6lph4b"
            put = urllib.request.Request(f"{base}/user/1.0/{name}", method="PUT",
                                         data=b'{"email": "john@example.com", "password": "a long password"}')
            assert urllib.request.urlopen(put, timeout=10).read().decode() == name

            # runbook §3 and §4 on the user database production.ini names
            node = "https://sync2.example.com/"
            syncstorage("nodes", "add", node, "--capacity", "250000")
            assert re.search(r"sync2\.example\.com/\s+0\s+0\s+250000\s+open", syncstorage("nodes", "list"))
            syncstorage("nodes", "drain", node)
            syncstorage("nodes", "set", node, "--down", "yes")
            assert re.search(r"sync2\.example\.com/\s+0\s+0\s+250000\s+down", syncstorage("nodes", "list"))
            syncstorage("nodes", "remove", node)
            assert "sync2" not in syncstorage("nodes", "list")

            # runbook §2: a reload keeps serving
            server.send_signal(signal.SIGHUP)
            assert urllib.request.urlopen(base + "/__lbheartbeat__", timeout=10).status == 200
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        mariadb.stop()
