"""Attacks measured against a real server: what they cost it and whom they hurt.

    python -m loadtest.abuse body      # peak RSS of a worker sent 64 MB without credentials
    python -m loadtest.abuse guessing  # an owner's logins during a password-guessing burst through nginx

``body``: gunicorn (one worker) on a throwaway SQLite node; one client sends
``--megabytes`` to ``PUT /user/1.0/{u}`` (account creation, no credentials);
prints the answer and the worker's resident memory before and after (VmHWM).

``guessing``: gunicorn behind config/nginx.conf with ``[server]
trusted_proxies = 127.0.0.1/32``; an attacker at 127.0.0.2 sends ``--guesses``
wrong passwords for one account from 5 connections at once while the owner,
at 127.0.0.3, syncs with the right password; then the owner's new device at
127.0.0.4 logs in.  Prints the status counts of each side.  (Loopback source
addresses stand in for the internet: every address in 127.0.0.0/8 is local.)
"""
from __future__ import annotations

import argparse
import base64
import collections
import http.client
import socket
import tempfile
import threading
from pathlib import Path

from loadtest import procstat, profiles, servers
from loadtest.services import free_port


def _peak_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def measure_body(megabytes: int, folder: Path) -> dict:
    env = servers.node_env(f"sqlite:///{folder / 'body.db'}")
    servers.migrate(env)
    port = free_port()
    proc = servers.start_gunicorn(servers.APP, port, env, workers=1, threads=4, log=folder / "app.log")
    try:
        worker = procstat.tree(proc.pid)[-1]
        before = _peak_memory(worker)
        size = megabytes * 1024 * 1024
        conn = socket.create_connection(("127.0.0.1", port), timeout=60)
        conn.sendall(f"PUT /user/1.0/kismw365lo7emoxr3ohojgpild6lph4b HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        sent, chunk = 0, b"[" * 65536
        try:
            while sent < size:
                conn.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed before the body was sent
        status = conn.recv(200).split(b"\r\n", 1)[0].decode()
        conn.close()
        after = _peak_memory(worker)
        return {"answer": status, "sent_bytes": sent, "rss_before_kb": before["VmRSS"],
                "peak_after_kb": after["VmHWM"], "growth_kb": after["VmHWM"] - before["VmHWM"]}
    finally:
        servers.stop(proc)


def measure_guessing(guesses: int, folder: Path) -> dict:
    env = servers.node_env(f"sqlite:///{folder / 'guess.db'}")  # trusts nginx on 127.0.0.1
    servers.migrate(env)
    app_port, port = free_port(), free_port()
    procs = [servers.start_gunicorn(servers.APP, app_port, env, workers=2, threads=8, log=folder / "app.log")]
    try:
        procs.append(servers.start_nginx(port, app_port, 16, folder / "nginx"))
        name = servers.create_account(f"http://127.0.0.1:{port}", "owner@example.com")

        def login(source: str, password: str) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
            token = base64.b64encode(f"{name}:{password}".encode()).decode()
            conn.request("GET", f"/1.1/{name}/info/collections", headers={"Authorization": "Basic " + token})
            status = conn.getresponse().status
            conn.close()
            return status

        owner, attacker = collections.Counter(), collections.Counter()
        lock = threading.Lock()

        def attack(k: int) -> None:
            for i in range(guesses // 5):
                status = login("127.0.0.2", f"guess-{k}-{i}")
                with lock:
                    attacker[status] += 1

        threads = [threading.Thread(target=attack, args=(k,)) for k in range(5)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            owner[login("127.0.0.3", profiles.PASSWORD)] += 1
        for t in threads:
            t.join()
        return {"attacker": dict(attacker), "owner_during_burst": dict(owner),
                "owner_new_device_after": login("127.0.0.4", profiles.PASSWORD)}
    finally:
        for proc in reversed(procs):
            servers.stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("body", "guessing"))
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--guesses", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure_body(args.megabytes, Path(tmp)) if args.what == "body" else \
            measure_guessing(args.guesses, Path(tmp))
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
