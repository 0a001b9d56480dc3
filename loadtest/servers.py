"""Processes a benchmark runs on loopback: the app and the trivial app under gunicorn."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from loadtest.services import MariaDB, wait_for, with_driver
from syncstorage.users.names import username_from_account

from loadtest import profiles

APP = "syncstorage.web.wsgi:application"
TRIVIAL = "loadtest.trivial_app:application"
FLOOR = "loadtest.floor_app:application"


def start_gunicorn(app: str, port: int, env: dict, workers: int, threads: int, log: Path) -> subprocess.Popen:
    """gunicorn as ``syncstorage serve`` runs it (the package's gunicorn configuration), on
    127.0.0.1:port with ``workers`` x ``threads``; returns once it answers HTTP."""
    from syncstorage.ops.server import gunicorn_command

    metrics_dir = Path(log).with_suffix(".metrics")  # workers' metrics meet here (/__metrics__)
    metrics_dir.mkdir(exist_ok=True)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PORT": str(port), "SYNCSTORAGE_SERVER_HOST": "127.0.0.1",
           "SYNCSTORAGE_SERVER_WORKERS": str(workers), "SYNCSTORAGE_SERVER_THREADS": str(threads), **env}
    with open(log, "ab") as out:
        proc = subprocess.Popen([*gunicorn_command(), app], env={**os.environ, **env}, stdout=out, stderr=out,
                                start_new_session=True)
    wait_for(lambda: answers(f"http://127.0.0.1:{port}"), 60, interval=0.2, what=f"{app} on port {port}")
    return proc


def answers(base: str) -> bool:
    """True once ``base`` answers HTTP at all (connection errors propagate)."""
    try:
        urllib.request.urlopen(f"{base}/__heartbeat__", timeout=2)
    except urllib.error.HTTPError:
        pass
    return True


NGINX_CONF = Path(__file__).resolve().parents[1] / "config" / "nginx.conf"


def start_nginx(listen_port: int, upstream_port: int, max_conns: int, folder: Path) -> subprocess.Popen:
    """config/nginx.conf (the production front end) on loopback, in front of ``upstream_port``."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    conf = NGINX_CONF.read_text()
    for old, new in (("127.0.0.1:8000 max_conns=64", f"127.0.0.1:{upstream_port} max_conns={max_conns}"),
                     ("listen 127.0.0.1:8080", f"listen 127.0.0.1:{listen_port}"),
                     ("worker_processes auto", "worker_processes 1"),
                     ("pid /tmp/syncstorage-nginx.pid", f"pid {folder / 'nginx.pid'}")):
        if old not in conf:
            raise RuntimeError(f"config/nginx.conf no longer contains {old!r}")
        conf = conf.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([binary, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-e", "stderr",
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=open(folder / "nginx.log", "ab"),
                            start_new_session=True)
    wait_for(lambda: answers(f"http://127.0.0.1:{listen_port}"), 30, interval=0.2, what="nginx")
    return proc


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """TERM, then KILL after ``timeout``; then KILL whatever is left of its process group
    (every server here starts a session of its own): a gunicorn worker still busy when
    its master was killed would otherwise go on loading the database of the next run."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left (or the group id was reused by a process not ours)


def teardown(procs: list, mariadb, memcached, tmp: Path) -> None:
    """Stop what a benchmark started (None for what it did not) and remove its scratch folder."""
    for proc in procs:
        stop(proc)
    for service in (mariadb, memcached):
        if service is not None:
            service.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def database(backend: str, name: str, folder: Path, driver: str = "pymysql") -> tuple[MariaDB | None, str]:
    """A throwaway database for a benchmark: (the MariaDB to stop afterwards, its URL through
    ``driver``) for ``mysql``, else (None, the URL of a SQLite file in ``folder``)."""
    if backend != "mysql":
        return None, f"sqlite:///{folder / (name + '.db')}"
    mariadb = MariaDB().start()
    try:
        return mariadb, with_driver(mariadb.create_database(name), driver)
    except BaseException:
        mariadb.stop()
        raise


def node_env(url: str, cache_servers: str = "") -> dict[str, str]:
    """SYNCSTORAGE_* settings of one storage node on loopback over database ``url``."""
    env = {"SYNCSTORAGE_STORAGE_SQLURI": url, "SYNCSTORAGE_STORAGE_SHARDS": "4",
           "SYNCSTORAGE_NODE_URL": "http://127.0.0.1/",
           # nginx on loopback, when a benchmark puts it in front: its X-Request-Start is believed
           "SYNCSTORAGE_SERVER_TRUSTED_PROXIES": "127.0.0.1/32"}
    if cache_servers:
        env["SYNCSTORAGE_CACHE_SERVERS"] = cache_servers
    return env


def migrate(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", "migrate"], env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)


def create_account(base: str, email: str, password: str = profiles.PASSWORD) -> str:
    """Create (or reuse) an account through the User API; return its user name."""
    name = username_from_account(email)
    body = json.dumps({"email": email, "password": password}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(f"{base}/user/1.0/{name}", data=body, method="PUT"),
                               timeout=30).read()
    except urllib.error.HTTPError as error:
        if error.read() != b"4":  # 4: it exists already, which is fine
            raise
    return name


def basic_token(name: str, password: str = profiles.PASSWORD) -> str:
    return base64.b64encode(f"{name}:{password}".encode()).decode()


def scrape(base: str) -> dict[str, float]:
    """/__metrics__ as {sample name with labels: value} (counters summed over workers)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/__metrics__", timeout=10) as res:
        text = res.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = values.get(f"{sample.name}{{{labels}}}", 0.0) + sample.value
    return values
