"""One step-load test, start to finish: ``make loadtest`` (``python -m loadtest.run``).

Starts everything on loopback (a throwaway MariaDB for ``--backend mysql``,
the server and a trivial app under gunicorn), fills the database with
``--accounts`` accounts (loadtest/datagen.py), measures the wrk ceilings,
runs the Locust sync-session model under a geometric step shape, and writes
``loadtest/results/<timestamp>/``: Locust's CSVs, sessions.csv, steps.json,
ceilings.json, knee.png and report.md.  With ``--target URL`` it loads an
existing server instead (its database must hold the accounts).  Every run is
bounded: Locust stops after the last step, and a hard time-out backs that up.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest.services import DRIVERS, MariaDB, Memcached, free_port, with_driver

from loadtest import ceilings, datagen, knee, procstat, servers

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    p.add_argument("--memcached", action="store_true", help="put a throwaway memcached in front")
    p.add_argument("--driver", choices=sorted(DRIVERS), default="pymysql", help="the server's MariaDB driver")
    p.add_argument("--target", help="load this server instead of starting one (no ceilings)")
    p.add_argument("--accounts", type=int, default=300, help="accounts to create and sync with")
    p.add_argument("--full-fraction", type=float, default=0.05, help="accounts with a full ~1 MB profile")
    p.add_argument("--data-dir", help="keep the MariaDB data here between runs (datagen resumes)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between a simulated user's syncs")
    p.add_argument("--step-start", type=int, default=32)
    p.add_argument("--step-factor", type=float, default=2.0)
    p.add_argument("--step-count", type=int, default=5)
    p.add_argument("--step-seconds", type=float, default=20.0)
    p.add_argument("--settle", type=int, default=10,
                   help="seconds dropped at the start of each step (Locust's percentiles cover ~10 s)")
    p.add_argument("--new-account-fraction", type=float, default=0.02)
    p.add_argument("--records-per-post", type=int, default=10)
    p.add_argument("--max-backoff", type=float, default=0.0, help="cap on honoured backoff (0 = none)")
    p.add_argument("--ceilings-seconds", type=int, default=5, help="seconds per wrk ceiling (0 = skip)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--retry-after", type=int, default=30, help="server's Retry-After for this run")
    p.add_argument("--nginx-max-conns", type=int, default=0,
                   help="put config/nginx.conf in front, with this upstream max_conns (0 = no nginx)")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra SYNCSTORAGE_* settings for the server under test")
    p.add_argument("--out", type=Path, help="results folder (default loadtest/results/<timestamp>)")
    p.add_argument("--label", default="", help="words for the report title")
    return p.parse_args(argv)


def run_locust(args, base: str, out: Path) -> int:
    run_time = int(args.step_count * args.step_seconds + 30)
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
           "-H", base, "--csv", str(out / "locust"), "--csv-full-history", "--only-summary",
           "--loglevel", "WARNING", "--run-time", f"{run_time}s", "--stop-timeout", "5",
           "--accounts", str(args.accounts), "--sync-interval", str(args.interval),
           "--new-account-fraction", str(args.new_account_fraction),
           "--records-per-post", str(args.records_per_post), "--max-backoff", str(args.max_backoff),
           "--step-start", str(args.step_start), "--step-factor", str(args.step_factor),
           "--step-count", str(args.step_count), "--step-seconds", str(args.step_seconds)]
    env = {**os.environ, "SYNCSTORAGE_SESSION_LOG": str(out / "sessions.csv"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(out / "locust.log", "wb") as log:
        return subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=run_time + 120).returncode


def scrape_or_none(base: str) -> dict | None:
    try:
        return servers.scrape(base)
    except OSError:
        return None  # an external target that does not show us its metrics


def server_processes(procs: list, mariadb, memcached) -> dict[str, int]:
    """The processes whose CPU serves the sessions, by the root of each tree: gunicorn's master
    (and its workers), MariaDB, memcached (SQLite runs inside the workers)."""
    parts = {"app": procs[0].pid} if procs else {}
    if mariadb is not None:
        parts["database"] = mariadb.process.pid
    if memcached is not None:
        parts["memcached"] = memcached.process.pid
    return parts


def cpu_seconds(parts: dict[str, int]) -> dict[str, float]:
    """CPU so far per part; workers started or lost during a run count too."""
    return {name: procstat.tree_cpu(root) for name, root in parts.items()}


MEMCACHED_COMMANDS = {"keys read": ("cmd_get",), "stores": ("cmd_set",),
                      "other": ("incr_hits", "incr_misses", "decr_hits", "decr_misses", "delete_hits",
                                "delete_misses", "cmd_touch")}


def memcached_commands(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """memcached's own counts over the run (stores: set, add, cas, append; a multi-get counts
    each key)."""
    return {kind: sum(after.get(name, 0) - before.get(name, 0) for name in names)
            for kind, names in MEMCACHED_COMMANDS.items()}


def server_figures(before: dict, after: dict, out: Path, cpu: dict[str, float] | None = None,
                   cache_commands: dict[str, int] | None = None) -> dict:
    """Cache hit ratio, SQL statements, server CPU (``cpu``: seconds per part over the run) and
    memcached's commands (``cache_commands``) per completed session over the Locust run."""
    def delta(prefix):
        return sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(prefix))
    hits = delta("syncstorage_cache_requests_total{kind=meta,result=hit}") + \
        delta("syncstorage_cache_requests_total{kind=user,result=hit}")
    lookups = delta("syncstorage_cache_requests_total{")
    statements = delta("syncstorage_sql_statements_total")
    sessions = 0
    with open(out / "sessions.csv") as fh:
        next(fh)
        for line in fh:
            sessions += int(line.split(",")[2])
    figures = {"cache_lookups": lookups, "cache_hit_ratio": hits / lookups if lookups else None,
               "sql_statements": statements, "sessions": sessions,
               "sql_statements_per_session": statements / sessions if sessions else None}
    writes = sum(v - before.get(k, 0.0) for k, v in after.items()
                 if k.startswith("syncstorage_requests_total{") and re.search(r"method=(POST|PUT|DELETE),", k))
    figures["write_requests"] = writes
    if cache_commands is not None and sessions:
        figures["memcached_commands"] = cache_commands
        figures["memcached_per_session"] = {kind: n / sessions for kind, n in cache_commands.items()}
    if cpu:
        figures["cpu_seconds"] = cpu
        figures["cpu_ms_per_session"] = {name: seconds * 1000 / sessions if sessions else None
                                         for name, seconds in {**cpu, "total": sum(cpu.values())}.items()}
    (out / "server_metrics.json").write_text(json.dumps(figures, indent=2))
    return figures


def write_report(args, out: Path, summary: dict, ceiling_runs: dict | None, setup: dict) -> Path:
    title = f"Step load: {args.label or args.backend}"
    lines = [f"# {title}", "",
             f"Run {out.name} on {platform.node()} ({os.cpu_count()} cores, {platform.python_version()}): "
             f"backend **{setup['backend']}**, {args.accounts} accounts ({args.full_fraction:.1%} full profiles, "
             f"{setup.get('records', '?')} records), gunicorn {args.workers} workers x {args.threads} threads, "
             f"sync interval {args.interval:g} s, steps from {args.step_start} users x{args.step_factor:g}, "
             f"{args.step_count} steps of {args.step_seconds:g} s (first {args.settle} s dropped), "
             f"Retry-After {args.retry_after} s.", "",
             "Command: `python -m loadtest.run " + " ".join(setup["argv"]) + "`", ""]
    if ceiling_runs:
        lines += ["## Ceilings (wrk, same run)", ""] + ceilings.table(ceiling_runs) + [""]
        knee_step = summary["knee"]
        steps = summary["steps"]
        if steps:
            best = steps[knee_step] if knee_step is not None else max(steps, key=lambda s: s["goodput"])
            trivial = ceiling_runs[ceilings.TRIVIAL]["rps"]
            lines += [f"Session-mix goodput at the {'knee' if knee_step is not None else 'best step'}: "
                      f"{best['goodput']:.0f} requests/s = {best['goodput'] / trivial:.3f} of the trivial app, "
                      f"{best['goodput'] / ceiling_runs[ceilings.INFO]['rps']:.2f} of the info/collections "
                      "ceiling.", ""]
    figures = setup.get("server_metrics")
    if figures:
        ratio = figures["cache_hit_ratio"]
        per_session = figures["sql_statements_per_session"]
        lines += ["## Server-side figures over the step run (from /__metrics__)", "",
                  f"- sessions completed: {figures['sessions']}",
                  f"- SQL statements: {figures['sql_statements']:.0f} = "
                  + (f"{per_session:.2f} per session" if per_session is not None else "n/a"),
                  f"- cache lookups: {figures['cache_lookups']:.0f}, hit ratio "
                  + (f"{ratio:.1%}" if ratio is not None else "n/a (no memcached)")]
        commands = figures.get("memcached_per_session")
        if commands:
            lines += ["- memcached commands per session: "
                      + ", ".join(f"{kind} {n:.2f}" for kind, n in commands.items())
                      + f" ({figures['write_requests'] / figures['sessions']:.2f} write requests per session;"
                      " memcached's own counts)"]
        per = figures.get("cpu_ms_per_session")
        if per and per.get("total") is not None:
            parts = ", ".join(f"{name} {ms:.2f}" for name, ms in per.items() if name != "total")
            lines += [f"- server CPU per session: {per['total']:.2f} ms ({parts}; from /proc over the step run)"]
        lines += [""]
    lines += ["## Steps", ""] + summary["table"] + ["", "![throughput and latency against offered load](knee.png)",
                                                     ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = args.out or ROOT / "loadtest" / "results" / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    setup = {"argv": argv, "backend": args.backend if not args.target else f"external {args.target}"}
    procs, mariadb, memcached, tmp = [], None, None, Path(tempfile.mkdtemp(prefix="syncstorage-loadtest-"))
    ceiling_runs = None
    try:
        if args.target:
            base = args.target.rstrip("/")
        else:
            if args.backend == "mysql":
                mariadb = MariaDB(basedir=args.data_dir).start()
                # a kept data directory keeps its data set: datagen resumes it
                url = mariadb.create_database("loadtest", replace=not args.data_dir)
            else:
                url = f"sqlite:///{Path(args.data_dir or tmp) / 'loadtest.db'}"
            server_url = with_driver(url, args.driver) if args.backend == "mysql" else url
            env = {"SYNCSTORAGE_STORAGE_SQLURI": server_url, "SYNCSTORAGE_STORAGE_SHARDS": "8",
                   "SYNCSTORAGE_NODE_URL": "auto", "SYNCSTORAGE_STORAGE_RETRY_AFTER": str(args.retry_after)}
            if args.memcached:
                memcached = Memcached(memory_mb=256).start()
                env["SYNCSTORAGE_CACHE_SERVERS"] = memcached.address
                setup["backend"] += "+memcached"
            if args.backend == "mysql" and args.driver != "pymysql":
                setup["backend"] += f" ({args.driver})"
            env.update(item.split("=", 1) for item in args.server_env)
            servers.migrate(env)
            print(f"generating {args.accounts} accounts ...", flush=True)
            _created, records = datagen.generate(url, url, args.accounts, args.full_fraction, 500, 1,
                                                 progress=sys.stderr.isatty())
            setup["records"] = records
            app_port = free_port()
            procs.append(servers.start_gunicorn(servers.APP, app_port, env, args.workers, args.threads,
                                                out / "server.log"))
            base = f"http://127.0.0.1:{app_port}"
            if args.nginx_max_conns:
                front_port = free_port()
                procs.append(servers.start_nginx(front_port, app_port, args.nginx_max_conns, tmp / "nginx"))
                base = f"http://127.0.0.1:{front_port}"
                setup["backend"] += f" behind nginx (max_conns {args.nginx_max_conns})"
            if args.ceilings_seconds and shutil.which("wrk"):
                print("measuring ceilings with wrk ...", flush=True)
                trivial_port = free_port()
                procs.append(servers.start_gunicorn(servers.TRIVIAL, trivial_port, {}, args.workers,
                                                    args.threads, out / "trivial.log"))
                from loadtest import profiles
                users = [profiles.account_name(n) for n in range(min(16, args.accounts))]
                ceiling_runs = ceilings.measure(base, f"http://127.0.0.1:{trivial_port}", users,
                                                args.ceilings_seconds, 16)
                (out / "ceilings.json").write_text(json.dumps(ceiling_runs, indent=2))
                servers.stop(procs.pop())
            elif args.ceilings_seconds:
                print("wrk is not installed: no ceilings in this report (apt-get install wrk)", flush=True)
        print(f"step load: {args.step_count} steps of {args.step_seconds:g} s against {base} ...", flush=True)
        parts = server_processes(procs, mariadb, memcached) if not args.target else {}
        before, cpu_before = scrape_or_none(base), cpu_seconds(parts)
        cache_before = memcached.stats() if memcached is not None else None
        started = time.time()
        run_locust(args, base, out)
        print(f"locust finished in {time.time() - started:.0f} s", flush=True)
        after, cpu_after = scrape_or_none(base), cpu_seconds(parts)
        cache_commands = memcached_commands(cache_before, memcached.stats()) if memcached is not None else None
        if before is not None and after is not None:
            cpu = {name: cpu_after[name] - cpu_before[name] for name in parts}
            setup["server_metrics"] = server_figures(before, after, out, cpu, cache_commands)
    finally:
        servers.teardown(procs, mariadb, memcached, tmp)
    summary = knee.analyse(out, args.interval, args.settle, title=f"Sync sessions under step load ({setup['backend']})")
    report = write_report(args, out, summary, ceiling_runs, setup)
    print("\n".join(summary["table"]))
    print(f"\nreport: {report}")
    return 0 if summary["steps"] else 1


if __name__ == "__main__":
    sys.exit(main())
