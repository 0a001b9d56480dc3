"""Overload benchmark: the same step load with admission control on, then off.

    python -m loadtest.overload [--knee USERS] [--out DIR] [run.py options ...]

Runs ``loadtest.run`` twice back to back on the same box and data shape:
steps from half the knee to 4x the knee (factor 2), clients honouring
Retry-After/X-Weave-Backoff for at most ``--max-backoff`` seconds so that
the offered load stays on (real Firefox clients back off for the whole
Retry-After, which only helps).  First with ``[overload] max_concurrent``
per worker (admission control and load-aware backoff), then with it off.
For the steps at 2x and 4x the knee it reports, per run: goodput as a share
of the best goodput so far (below 90 % is a collapse, as in loadtest/knee.py),
p99 of admitted requests, client time-outs, and the p99 and maximum latency
of shed (503) responses as the clients saw them; and, from the server's JSON
request log, how long the server itself took for shed and admitted requests
(the difference is queueing before the app).  Writes report.md;
``--report-only`` rebuilds it from the two runs' folders.

Targets (issue 5): goodput >= 90 % of peak, admitted p99 < 1 s, no
time-outs, 503s in < 50 ms.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from loadtest import run

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"goodput_share": 0.9, "admitted_p99_ms": 1000.0, "shed_ms": 50.0}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--knee", type=int, default=128,
                   help="users (= sessions/s at --interval 1) at the knee of this configuration")
    p.add_argument("--max-concurrent", type=int, default=8, help="admission bound per worker for the 'on' run")
    p.add_argument("--step-seconds", type=float, default=30.0)
    p.add_argument("--max-backoff", type=float, default=1.0)
    p.add_argument("--nginx", action="store_true",
                   help="both runs behind config/nginx.conf; the 'on' run also bounds nginx's upstream "
                        "connections to workers x threads (a fast 503 from nginx past it)")
    p.add_argument("--switch-interval", type=float, default=0.0005,
                   help="[server] switch_interval of both runs (production.ini's value)")
    p.add_argument("--out", type=Path, default=ROOT / "loadtest" / "results" / "overload")
    p.add_argument("--report-only", action="store_true", help="rebuild report.md from --out's on/ and off/")
    args, rest = p.parse_known_args(argv)
    return args, rest


def run_once(args, rest, label: str, max_concurrent: int) -> dict:
    out = args.out / label
    if args.nginx:  # 'off': nginx without a useful bound (more connections than clients)
        rest = [*rest, "--nginx-max-conns", str(connection_bound(rest) if max_concurrent else 100000)]
    argv = ["--step-start", str(max(1, args.knee // 2)), "--step-factor", "2", "--step-count", "4",
            "--step-seconds", str(args.step_seconds), "--ceilings-seconds", "0",
            "--max-backoff", str(args.max_backoff), "--new-account-fraction", "0",
            "--server-env", f"SYNCSTORAGE_OVERLOAD_MAX_CONCURRENT={max_concurrent}",
            "--server-env", f"SYNCSTORAGE_SERVER_SWITCH_INTERVAL={args.switch_interval}",
            "--label", f"overload, admission control {label}", "--out", str(out), *rest]
    if run.main(argv) != 0:
        raise SystemExit(f"the {label} run produced no steps; see {out}")
    return json.loads((out / "steps.json").read_text())


def connection_bound(rest: list[str]) -> int:
    """workers x threads of the server under test (run.py's defaults unless given)."""
    options = run.parse_args(rest)
    return options.workers * options.threads


def figures(summary: dict, knee_users: int) -> list[dict]:
    rows, best = [], 0.0
    for s in summary["steps"]:
        best = max(best, s["goodput"])
        rows.append({"users": s["users"], "x_knee": s["users"] / knee_users, "goodput": s["goodput"],
                     "goodput_share": s["goodput"] / best if best else 0.0, "admitted_p99_ms": s["admitted_p99_ms"],
                     "timeouts": s["timeouts"], "shed_rate": s["shed_rate"], "shed_p99_ms": s["shed_p99_ms"],
                     "shed_max_ms": s["shed_max_ms"], "backoff_rate": s["backoff_rate"],
                     "error_rate": s["error_rate"]})
    return rows


def server_side(log: Path) -> dict:
    """Percentiles of the server's own time (JSON request log) for shed and admitted requests."""
    shed, admitted = [], []
    if log.exists():
        with open(log) as fh:
            for line in fh:
                if line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("route") not in ("heartbeat", "metrics"):
                        (shed if entry["status"] == 503 else admitted).append(entry["ms"])

    def pct(values, q):
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
    return {"shed": len(shed), "shed_p50_ms": pct(shed, 0.5), "shed_p99_ms": pct(shed, 0.99),
            "shed_max_ms": max(shed, default=float("nan")), "admitted": len(admitted),
            "admitted_p50_ms": pct(admitted, 0.5), "admitted_p99_ms": pct(admitted, 0.99)}


def verdict(row: dict) -> str:
    misses = []
    if row["goodput_share"] < TARGETS["goodput_share"]:
        misses.append("goodput")
    if not row["admitted_p99_ms"] < TARGETS["admitted_p99_ms"]:
        misses.append("p99")
    if row["timeouts"]:
        misses.append("time-outs")
    if not math.isnan(row["shed_p99_ms"]) and row["shed_p99_ms"] >= TARGETS["shed_ms"]:
        misses.append("503 latency")
    return "meets all" if not misses else "misses " + ", ".join(misses)


def table(results: dict[str, list[dict]]) -> list[str]:
    lines = ["| admission | users (x knee) | goodput req/s (share of best so far) | admitted p99 | time-outs | shed | "
             "503 p99 / max | backoff sent | verdict |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, rows in results.items():
        for r in rows:
            shed = "-" if math.isnan(r["shed_p99_ms"]) else f"{r['shed_p99_ms']:.0f} / {r['shed_max_ms']:.0f} ms"
            lines.append(f"| {label} | {r['users']} ({r['x_knee']:g}x) | {r['goodput']:.0f} ({r['goodput_share']:.0%}) "
                         f"| {r['admitted_p99_ms']:.0f} ms | {r['timeouts']} | {r['shed_rate']:.1%} | {shed} "
                         f"| {r['backoff_rate']:.1%} | {verdict(r) if r['x_knee'] >= 2 else ''} |")
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, rest = parse_args(argv)
    if not args.report_only:
        run_once(args, rest, "on", args.max_concurrent)
        run_once(args, rest, "off", 0)
    results = {label: figures(json.loads((args.out / label / "steps.json").read_text()), args.knee)
               for label in ("on", "off")}
    server = {label: server_side(args.out / label / "server.log") for label in ("on", "off")}
    lines = ["# Overload: admission control on vs off", "",
             f"Command: `python -m loadtest.overload {' '.join(argv)}`; knee = {args.knee} sessions/s; "
             f"admission bound {args.max_concurrent} per worker in the 'on' run; GIL switch interval "
             f"{args.switch_interval:g} s in both; clients honour backoff for at most {args.max_backoff:g} s.", "", *table(results), "",
             "Targets at 2x and 4x the knee: goodput >= 90 % of the best so far, admitted p99 < 1 s, no time-outs "
             "(30 s client time-out), 503 answered in < 50 ms.", "",
             "The server's own time per request over the whole run (its JSON request log):", "",
             "| admission | shed requests | shed p50 / p99 / max | admitted requests | admitted p50 / p99 |",
             "|---|---:|---:|---:|---:|",
             *(f"| {label} | {v['shed']} | {v['shed_p50_ms']:.1f} / {v['shed_p99_ms']:.1f} / {v['shed_max_ms']:.1f} ms "
               f"| {v['admitted']} | {v['admitted_p50_ms']:.1f} / {v['admitted_p99_ms']:.1f} ms |"
               for label, v in server.items()), ""]
    (args.out / "report.md").write_text("\n".join(lines))
    (args.out / "overload.json").write_text(json.dumps({"steps": results, "server": server}, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
