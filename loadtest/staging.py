"""A local staging cluster on loopback: ``python -m loadtest.staging up|check|down``.

Topology (config/staging/): one nginx routing by port to a user-API server
and two storage nodes (gunicorn each); node1's database on a replicated pair
of MariaDB servers (GTID, semi-synchronous, docs/cluster.md), the user
database and node2's on one more MariaDB server; one memcached shared by all.
Each server reads its own ini file, written into the state folder from
config/staging/ with the cluster's database URLs (a failover edits it and
reloads the server with HUP, as docs/runbook.md says).  ``up`` starts a
supervisor in the background and returns once every part answers through
nginx; the supervisor tears everything down on ``down``, when a server or
nginx dies (a database server may die: that is the failover drill), or after
``--lifetime`` seconds, so a forgotten cluster never lingers.  ``check`` runs
the end-to-end scenario (staging_check.py), ``failover`` the database
failover drill (staging_failover.py).
"""
from __future__ import annotations

import argparse
import configparser
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from loadtest.services import MariaDB, Memcached, ReplicatedMariaDB, wait_for

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "staging"
DEFAULT_DIR = ROOT / ".staging"
CAPACITY = 1000  # users per node in staging

# fixed ports so that a person can point a browser or Firefox at the cluster
PORTS = {"users": 18100, "node1": 18101, "node2": 18102,  # nginx
         "users_upstream": 18110, "node1_upstream": 18111, "node2_upstream": 18112,  # gunicorn
         "mariadb": 18120, "memcached": 18121, "node1_db_a": 18122, "node1_db_b": 18123}


def ports(base: int) -> dict[str, int]:
    return {name: port - 18100 + base for name, port in PORTS.items()}


def layout(base: int) -> dict:
    """Every address of the cluster, as written to cluster.json."""
    p = ports(base)
    return {
        "ports": p,
        "server_url": f"http://127.0.0.1:{p['users']}/",
        "nodes": {"node1": f"http://127.0.0.1:{p['node1']}/", "node2": f"http://127.0.0.1:{p['node2']}/"},
    }


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCSTORAGE_")}
    env.update(extra)
    return env


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def ini_value(path: Path, section: str, key: str) -> str:
    return _ini(path).get(section, key)


def edit_ini(path: Path, values: dict[tuple[str, str], str], template: Path | None = None) -> None:
    """Set ``values`` ((section, key) -> text) in the ini file ``path`` (first copied from ``template``)."""
    parser = _ini(template or path)
    for (section, key), value in values.items():
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    with open(path, "w") as fh:
        fh.write("# a staging server's settings: config/staging/'s file with this cluster's database URLs\n")
        parser.write(fh)


def write_server_files(cluster: dict, databases: dict[str, str], directory: Path) -> dict[str, dict[str, str]]:
    """Each server's ini file (its database URLs) in ``directory``, and its SYNCSTORAGE_* environment
    (the addresses: port, node URL, memcached; and a secret of this cluster's own, so that verified
    credentials are shared in memcached as docs/cluster.md recommends)."""
    p = cluster["ports"]
    common = {"SYNCSTORAGE_CACHE_SERVERS": f"127.0.0.1:{p['memcached']}", "SYNCSTORAGE_SERVER_HOST": "127.0.0.1",
              "SYNCSTORAGE_CACHE_CREDENTIALS_SECRET": secrets.token_hex(32)}
    edit_ini(directory / "users.ini", {
        ("users", "sqluri"): databases["users"],
        ("users", "node_databases"): " ".join(f"{url}={databases[n]}" for n, url in cluster["nodes"].items()),
    }, template=CONFIG / "users.ini")
    envs = {"users": {**common, "SYNCSTORAGE_CONFIG": str(directory / "users.ini"),
                      "SYNCSTORAGE_SERVER_PORT": str(p["users_upstream"])}}
    for name, url in cluster["nodes"].items():
        edit_ini(directory / f"{name}.ini", {("storage", "sqluri"): databases[name],
                                             ("users", "sqluri"): databases["users"]}, template=CONFIG / "node.ini")
        envs[name] = {**common, "SYNCSTORAGE_CONFIG": str(directory / f"{name}.ini"), "SYNCSTORAGE_NODE_URL": url,
                      "SYNCSTORAGE_SERVER_PORT": str(p[f"{name}_upstream"])}
    return envs


def syncstorage_command(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``syncstorage ARGS`` as the server with environment ``env`` would see it."""
    return subprocess.run([sys.executable, "-m", "syncstorage.ops.cli", *args], env=_env(env), check=True,
                          text=True, capture_output=True, timeout=600, **kwargs)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class Supervisor:
    """Starts the parts in order, watches them, and stops them in reverse order."""

    def __init__(self, directory: Path, base_port: int, lifetime: float):
        self.dir = directory
        self.cluster = layout(base_port)
        self.lifetime = lifetime
        self.stop_requested = threading.Event()
        self.processes: dict[str, subprocess.Popen] = {}
        self.services: list = []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(argv, env=_env(env or {}), stdout=log, stderr=log, cwd=ROOT)

    def start(self) -> None:
        p = self.cluster["ports"]
        mariadb = MariaDB(port=p["mariadb"], basedir=str(self.dir / "mariadb")).start()
        self.services.append(mariadb)
        pair = ReplicatedMariaDB(ports=(p["node1_db_a"], p["node1_db_b"]), basedir=str(self.dir / "node1-db")).start()
        self.services.append(pair)
        self.services.append(Memcached(port=p["memcached"]).start())
        databases = {"users": mariadb.create_database("staging_users"),
                     "node2": mariadb.create_database("staging_node2"),
                     "node1": pair.create_database("staging_node1")}  # an account that read_only fences
        envs = write_server_files(self.cluster, databases, self.dir)
        for name, env in envs.items():
            syncstorage_command(env, "migrate")
        for url in self.cluster["nodes"].values():
            syncstorage_command(envs["users"], "nodes", "add", url, "--capacity", str(CAPACITY))
        for name, env in envs.items():
            self._spawn(name, [sys.executable, "-m", "syncstorage.ops.cli", "serve"], env)
        conf = (CONFIG / "nginx.conf").read_text()
        for name, port in p.items():
            conf = conf.replace(f"@{name.upper()}_PORT@", str(port)).replace(f"@{name.upper()}@", str(port))
        prefix = self.dir / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        (self.dir / "nginx.conf").write_text(conf)
        shutil.copy(CONFIG / "unavailable.conf", self.dir / "unavailable.conf")
        nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if nginx is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self._spawn("nginx", [nginx, "-c", str(self.dir / "nginx.conf"), "-p", str(prefix), "-e", "stderr",
                              "-g", "daemon off;"])
        for url in (self.cluster["server_url"], *self.cluster["nodes"].values()):
            wait_for(lambda u=url: self._alive() and _answers(u + "__heartbeat__"), 60,
                     what=f"{url} to answer through nginx")
        self.cluster.update(
            ready=True, environments=envs, supervisor=os.getpid(),
            pids={name: proc.pid for name, proc in self.processes.items()} |
            {"mariadb": mariadb.process.pid, "node1_db_a": pair.primary.process.pid,
             "node1_db_b": pair.replica.process.pid},
            node1_database={"database": "staging_node1", "primary": _server(pair, pair.primary),
                            "replica": _server(pair, pair.replica)})
        (self.dir / "cluster.json").write_text(json.dumps(self.cluster, indent=2))

    def _alive(self) -> bool:
        dead = [name for name, proc in self.processes.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited; see {self.dir}/<name>.log")
        return True

    def watch(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self.stop_requested.wait(1.0):
            if time.monotonic() > deadline:
                print(f"staging: lifetime of {self.lifetime:g} s reached, stopping", flush=True)
                return
            self._alive()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for service in reversed(self.services):
            service.stop()
        for folder in ("mariadb", "node1-db"):
            shutil.rmtree(self.dir / folder, ignore_errors=True)
        (self.dir / "cluster.json").unlink(missing_ok=True)


def _server(pair: ReplicatedMariaDB, server: MariaDB) -> dict:
    """How the failover drill reaches one server of node1's pair."""
    return {"port": server.port, "socket": server.socket, "url": pair.url(server, "staging_node1")}


def supervise(args) -> int:
    directory = Path(args.dir)
    supervisor = Supervisor(directory, args.base_port, args.lifetime)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.stop_requested.set())
    try:
        supervisor.start()
        print("staging: cluster ready", flush=True)
        supervisor.watch()
        return 0
    except Exception as error:  # reported in supervisor.log, which `up` prints
        print(f"staging: {error}", flush=True)
        return 1
    finally:
        supervisor.stop()
        print("staging: stopped", flush=True)


def up(args) -> int:
    directory = Path(args.dir)
    if (directory / "cluster.json").exists():
        print(f"a staging cluster is already running ({directory}/cluster.json); `make staging-down` stops it")
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    log = open(directory / "supervisor.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "loadtest.staging", "--dir", str(directory), "supervise",
                             "--base-port", str(args.base_port), "--lifetime", str(args.lifetime)],
                            stdout=log, stderr=log, start_new_session=True, cwd=ROOT)
    (directory / "supervisor.pid").write_text(str(proc.pid))
    try:
        wait_for(lambda: (directory / "cluster.json").exists() or proc.poll() is not None, 240,
                 what="the staging cluster to start")
    except TimeoutError:
        proc.terminate()
    if proc.poll() is not None or not (directory / "cluster.json").exists():
        proc.wait(timeout=120)
        print((directory / "supervisor.log").read_text(), file=sys.stderr)
        return 1
    cluster = json.loads((directory / "cluster.json").read_text())
    print(f"staging cluster up (stops by itself after {args.lifetime:g} s, or `make staging-down`):")
    print(f"  server URL (user API): {cluster['server_url']}")
    for name, url in cluster["nodes"].items():
        print(f"  {name}: {url}")
    return 0


def down(args) -> int:
    directory = Path(args.dir)
    pid_file = directory / "supervisor.pid"
    if not pid_file.exists():
        print("no staging cluster")
        return 0
    pid = int(pid_file.read_text())
    leftovers = {}
    if (directory / "cluster.json").exists():
        leftovers = json.loads((directory / "cluster.json").read_text()).get("pids", {})
    try:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not _running(pid), 120, what="the staging supervisor to stop")
    except ProcessLookupError:
        pass
    for name, child in leftovers.items():  # only if the supervisor itself was killed
        if _running(child):
            os.kill(child, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print("staging cluster stopped")
    return 0


def _running(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def environment(args) -> int:
    """Print `export` lines for one server's settings, for operator commands by hand:
    eval "$(python -m loadtest.staging env users)"; syncstorage nodes list"""
    import shlex

    cluster = json.loads((Path(args.dir) / "cluster.json").read_text())
    for name, value in cluster["environments"][args.server].items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def check(args) -> int:
    from loadtest.staging_check import run_check

    cluster = json.loads((Path(args.dir) / "cluster.json").read_text())
    return run_check(cluster)


def failover(args) -> int:
    from loadtest.staging_failover import run_drill

    directory = Path(args.dir)
    return run_drill(json.loads((directory / "cluster.json").read_text()), directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.staging", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.environ.get("STAGING_DIR", str(DEFAULT_DIR)),
                        help="state folder (logs, databases, cluster.json)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("up", up), ("supervise", supervise)):
        cmd = sub.add_parser(name)
        cmd.add_argument("--base-port", type=int, default=int(os.environ.get("STAGING_BASE_PORT", 18100)))
        cmd.add_argument("--lifetime", type=float, default=float(os.environ.get("STAGING_LIFETIME", 3600)),
                         help="seconds after which the cluster stops by itself")
        cmd.set_defaults(func=func)
    sub.add_parser("down").set_defaults(func=down)
    sub.add_parser("check").set_defaults(func=check)
    sub.add_parser("failover", help="the database failover drill (kills node1's primary)").set_defaults(func=failover)
    env = sub.add_parser("env", help="print a server's SYNCSTORAGE_* settings as export lines")
    env.add_argument("server", choices=("users", "node1", "node2"))
    env.set_defaults(func=environment)
    args = parser.parse_args(argv)
    args.dir = str(Path(args.dir).resolve())  # the servers run elsewhere than the current folder
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
