"""Single-endpoint ceilings with wrk, reported as ratios to a trivial WSGI app
measured under the same gunicorn settings in the same run.

    python -m loadtest.ceilings [--backend mysql|sqlite] [--duration 10] [--connections 16]

Everything runs on loopback: a throwaway MariaDB (for --backend mysql), the
server under gunicorn (gthread), the trivial app, and wrk.  Every run is bounded.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from syncstorage.devservices import MariaDB, free_port, wait_for

HERE = Path(__file__).resolve().parent
PASSWORD = "loadtest-password"


def gunicorn(app: str, port: int, env: dict, workers: int, threads: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", "gthread", "--threads", str(threads), "--log-level", "warning", app]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=out, start_new_session=True)
    wait_for(lambda: _answers(port), 30, interval=0.2, what=f"{app} on {port}")
    return proc


def _answers(port: int) -> bool:
    """True once the server answers HTTP at all (connection errors propagate)."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/__heartbeat__", timeout=1)
    except urllib.error.HTTPError:
        pass
    return True


def wrk(url: str, script: str, args: list[str], duration: int, connections: int, threads: int = 2) -> dict:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "-s",
           str(HERE / "wrk" / script), url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency.get("50"), "p99": latency.get("99"),
            "non2xx": int(errors.group(1)) if errors else 0}


def create_user(base: str, email: str) -> str:
    """Create (or reuse) an account through the User API; return its user name."""
    from syncstorage.users.names import username_from_account
    name = username_from_account(email)
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(f"{base}/user/1.0/{name}", data=body, method="PUT")
    try:
        urllib.request.urlopen(request, timeout=30).read()
    except urllib.error.HTTPError as error:
        if error.read() != b"4":  # already exists is fine
            raise
    return name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("mysql", "sqlite"), default="mysql")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=16, help="accounts the POST run rotates over")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--log-dir", default=".", help="where the servers' logs go")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="syncstorage-ceilings-"))
    procs, mariadb = [], None
    try:
        if args.backend == "mysql":
            mariadb = MariaDB().start()
            url = mariadb.create_database("ceilings")
        else:
            url = f"sqlite:///{tmp / 'ceilings.db'}"
        env = {"SYNCSTORAGE_STORAGE_SQLURI": url, "SYNCSTORAGE_STORAGE_SHARDS": "4",
               "SYNCSTORAGE_NODE_URL": "http://127.0.0.1/"}
        subprocess.run([sys.executable, "-m", "syncstorage.cli", "migrate"], env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
        app_port, trivial_port = free_port(), free_port()
        procs.append(gunicorn("loadtest.serve_app:application", app_port, env, args.workers, args.threads,
                              Path(args.log_dir) / "app.log"))
        procs.append(gunicorn("loadtest.trivial_app:application", trivial_port, {}, args.workers, args.threads,
                              Path(args.log_dir) / "trivial.log"))
        base = f"http://127.0.0.1:{app_port}"
        names = [create_user(base, f"loadtest{n}@example.com") for n in range(args.users)]
        auths = [base64.b64encode(f"{name}:{PASSWORD}".encode()).decode() for name in names]
        name, auth = names[0], auths[0]
        for _ in range(args.workers * 2):  # warm every worker's verified-credentials cache
            for user, user_auth in zip(names, auths):
                urllib.request.urlopen(urllib.request.Request(
                    f"{base}/1.1/{user}/storage/bookmarks/warm", data=b'{"payload": "x"}', method="PUT",
                    headers={"Authorization": f"Basic {user_auth}"}), timeout=30).read()
        runs = {
            "trivial WSGI app": wrk(f"http://127.0.0.1:{trivial_port}/", "get.lua", [], args.duration,
                                    args.connections),
            "GET info/collections": wrk(f"{base}/1.1/{name}/info/collections", "get.lua", [auth], args.duration,
                                        args.connections),
            "POST 100 records (500 B)": wrk(base, "post_batch.lua", [",".join(auths), "100", "500"],
                                            args.duration, args.connections),
        }
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        if mariadb:
            mariadb.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    ceiling = runs["trivial WSGI app"]["rps"]
    print(f"backend={args.backend} workers={args.workers} threads={args.threads} "
          f"connections={args.connections} duration={args.duration}s")
    print(f"{'scenario':28} {'req/s':>9} {'ratio':>6} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
    for scenario, r in runs.items():
        print(f"{scenario:28} {r['rps']:9.0f} {r['rps'] / ceiling:6.2f} {r['p50']:>9} {r['p99']:>9} {r['non2xx']:8d}")
    post = runs["POST 100 records (500 B)"]["rps"]
    print(f"records written per second: {post * 100:.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"backend": args.backend, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
