"""gunicorn's configuration, the one way the service runs: ``syncstorage serve`` hands this
file to gunicorn (``-c``), the benchmarks do too, and the runbook's commands use them.

gunicorn executes this file at start and again on every HUP, so a HUP applies an edited
``[server]`` section.  The settings are read by a short-lived ``syncstorage config --json``
process: gunicorn's master never imports the application, so the workers a HUP starts
import the code (and read the ini file, ``SYNCSTORAGE_CONFIG``) afresh.  This file
imports nothing of the package for the same reason.
"""
import json
import os
import subprocess
import sys
from pathlib import Path


def _settings() -> dict:
    result = subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "config", "--json"], capture_output=True,
                            text=True, env=os.environ, timeout=60)
    if result.returncode != 0:
        raise SystemExit(result.stderr.strip() or "syncstorage config failed")
    return json.loads(result.stdout)


_server = _settings()["server"]

wsgi_app = "syncstorage.web.wsgi:application"
bind = f"{_server['host']}:{os.environ.get('PORT') or _server['port']}"
workers = _server["workers"]
# gthread: a worker keeps serving its other threads while one waits on the database
worker_class = "gthread"
threads = _server["threads"]
timeout = _server["timeout"]
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app writes one JSON line per request (infra/logs.py); a second would double the cost
errorlog = "-"
# several gunicorns on one box would share gunicorn's default control socket; signals are enough
control_socket_disable = True


def on_starting(server):
    """Workers are processes: their metrics meet in one folder, emptied at start."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
