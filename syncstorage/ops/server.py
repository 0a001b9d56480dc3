"""``syncstorage serve``: gunicorn with the package's configuration (gunicorn_conf.py).

The command replaces itself with gunicorn (exec), so the process a service manager
starts, and sends HUP or TERM to, is gunicorn's master.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

CONF = Path(__file__).resolve().with_name("gunicorn_conf.py")


def gunicorn_command() -> list[str]:
    """The command line that serves the application (also what the benchmarks run)."""
    return [sys.executable, "-m", "gunicorn", "-c", str(CONF)]


def serve(config_path: str | None) -> None:
    env = dict(os.environ)
    if config_path:
        env["SYNCSTORAGE_CONFIG"] = str(Path(config_path).resolve())
    # Workers are processes: their metrics meet in a shared folder (emptied at start).
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="syncstorage-metrics-"))
    os.execve(sys.executable, gunicorn_command(), env)
