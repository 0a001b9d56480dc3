"""Per-step results, the inflection and collapse points, and their plot.

    python -m loadtest.knee RESULTS_DIR [--interval S] [--settle S]

Reads Locust's per-second ``locust_stats_history.csv`` (Aggregated rows) and
``sessions.csv`` (loadtest/sessionlog.py) from RESULTS_DIR.  A *step* is a run
of seconds at one user count; its first ``--settle`` seconds are dropped.
Per step: offered sessions/s (users / interval), achieved sessions/s, goodput
(requests/s that were neither failures nor shed; rates come from the
per-second differences of Locust's cumulative counts), p50/p95/p99 latency
(median of Locust's per-second values, which cover a ~10 s sliding window:
settle at least that long), error and shed rates.

Definitions (docs/benchmarks.md repeats them):

* elasticity of step i = (G_i / G_{i-1} - 1) / (U_i / U_{i-1} - 1), G goodput,
  U users: 1 when throughput grows with the load, 0 when it is flat.
* **inflection** = the first step whose elasticity is below 0.5 while its p95
  is above 1.5x the lowest p95 seen so far: throughput stopped growing while
  latency climbs.  The **knee** is the step before it: the highest load still
  served in proportion.
* **collapse** = the first step whose goodput is below 90 % of the best so far,
  or whose error rate exceeds 1 %.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ELASTICITY_FLOOR = 0.5
LATENCY_CLIMB = 1.5
COLLAPSE_FRACTION = 0.9
ERROR_LIMIT = 0.01


@dataclass
class Step:
    users: int
    seconds: int
    offered_sessions: float
    sessions: float
    requests: float
    goodput: float
    p50: float
    p95: float
    p99: float
    error_rate: float
    shed_rate: float
    backoff_rate: float
    session_p95_ms: float
    # from the session log: latency of admitted (non-503) and of shed (503) requests, requests unanswered
    admitted_p99_ms: float = float("nan")
    shed_p99_ms: float = float("nan")
    shed_max_ms: float = float("nan")
    timeouts: int = 0


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_history(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"]
    out = []
    previous = None
    for r in rows:
        # Locust's Requests/s is a lagging ~10 s sliding window that blends a step
        # into the next; differences of the cumulative counts are exact per second.
        t, total, failed = int(r["Timestamp"]), int(r["Total Request Count"]), int(r["Total Failure Count"])
        if previous is None:
            rps = fps = 0.0
        else:
            dt = max(1, t - previous[0])
            rps, fps = (total - previous[1]) / dt, (failed - previous[2]) / dt
        previous = (t, total, failed)
        out.append({"t": t, "users": int(r["User Count"]), "rps": rps, "fps": fps, "p50": _number(r["50%"]),
                    "p95": _number(r["95%"]), "p99": _number(r["99%"])})
    return out


def read_sessions(path: Path) -> dict[int, dict]:
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        return {int(r["timestamp"]): {k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)}


def split_steps(history: list[dict], sessions: dict[int, dict], interval: float, settle: int) -> list[Step]:
    groups: list[list[dict]] = []
    for row in history:
        if row["users"] == 0:
            continue
        if groups and groups[-1][-1]["users"] == row["users"]:
            groups[-1].append(row)
        else:
            groups.append([row])
    steps = []
    highest = 0
    for group in groups:
        if group[0]["users"] < highest:
            continue  # the ramp-down as the run stops is not a step
        highest = group[0]["users"]
        kept = group[settle:] if len(group) > settle + 2 else group[len(group) // 2:]
        seconds = [sessions.get(r["t"], {}) for r in kept]
        requests = statistics.fmean(r["rps"] for r in kept)
        failures = statistics.fmean(r["fps"] for r in kept)
        shed = statistics.fmean(s.get("shed", 0.0) for s in seconds) if seconds else 0.0
        backoff = statistics.fmean(s.get("backoff", 0.0) for s in seconds) if seconds else 0.0

        def median(key):
            values = [r[key] for r in kept if r[key] is not None]
            return statistics.median(values) if values else float("nan")

        session_p95 = [s["session_p95_ms"] for s in seconds if s.get("sessions")]
        admitted_p99 = [s["admitted_p99_ms"] for s in seconds if "admitted_p99_ms" in s]
        shed_seconds = [s for s in seconds if s.get("shed") and "shed_p99_ms" in s]  # older logs lack it
        steps.append(Step(
            users=kept[0]["users"], seconds=len(kept), offered_sessions=kept[0]["users"] / interval,
            sessions=statistics.fmean(s.get("sessions", 0.0) for s in seconds) if seconds else 0.0,
            requests=requests, goodput=max(0.0, requests - failures - shed), p50=median("p50"), p95=median("p95"),
            p99=median("p99"), error_rate=failures / requests if requests else 0.0,
            shed_rate=shed / requests if requests else 0.0, backoff_rate=backoff / requests if requests else 0.0,
            session_p95_ms=statistics.median(session_p95) if session_p95 else float("nan"),
            admitted_p99_ms=statistics.median(admitted_p99) if admitted_p99 else float("nan"),
            shed_p99_ms=statistics.median(s["shed_p99_ms"] for s in shed_seconds) if shed_seconds else float("nan"),
            shed_max_ms=max((s["shed_max_ms"] for s in shed_seconds), default=float("nan")),
            timeouts=int(sum(s.get("timeouts", 0) for s in seconds))))
    return steps


def find_points(steps: list[Step]) -> tuple[int | None, int | None, int | None]:
    """(knee, inflection, collapse) step indexes, None where not reached."""
    inflection = None
    best_p95 = steps[0].p95 if steps else None
    for i in range(1, len(steps)):
        prev, cur = steps[i - 1], steps[i]
        growth = cur.users / prev.users - 1
        elasticity = (cur.goodput / prev.goodput - 1) / growth if prev.goodput and growth > 0 else 1.0
        best_p95 = min(best_p95, prev.p95)
        if elasticity < ELASTICITY_FLOOR and cur.p95 > LATENCY_CLIMB * best_p95:
            inflection = i
            break
    collapse = None
    peak = 0.0
    for i, step in enumerate(steps):
        if step.error_rate > ERROR_LIMIT or (peak and step.goodput < COLLAPSE_FRACTION * peak):
            collapse = i
            break
        peak = max(peak, step.goodput)
    knee = inflection - 1 if inflection is not None else None
    return knee, inflection, collapse


def plot(steps: list[Step], knee, collapse, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [s.offered_sessions for s in steps]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 7))
    top.plot(x, [s.goodput for s in steps], "o-", label="goodput (requests/s)")
    top.plot(x, [s.requests for s in steps], ".:", color="grey", label="all requests/s")
    top.set_ylabel("requests/s")
    right = top.twinx()
    right.plot(x, [s.sessions for s in steps], "s--", color="tab:green", label="sessions/s")
    right.set_ylabel("sessions/s")
    lines = top.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    top.legend(lines, [ln.get_label() for ln in lines], loc="upper left", fontsize="small")
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        bottom.plot(x, [getattr(s, key) for s in steps], style, label=key)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("offered load (sessions/s = users / sync interval)")
    bottom.legend(loc="upper left", fontsize="small")
    for index, color, label in ((knee, "tab:orange", "knee"), (collapse, "tab:red", "collapse")):
        if index is not None:
            for axis in (top, bottom):
                axis.axvline(x[index], color=color, linestyle="--")
            top.annotate(label, (x[index], steps[index].goodput), textcoords="offset points", xytext=(5, -15),
                         color=color)
    top.set_title(title)
    top.grid(True, alpha=0.3)
    bottom.grid(True, alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def describe(steps: list[Step], knee, inflection, collapse) -> list[str]:
    lines = ["| users | offered sess/s | sessions/s | req/s | goodput | p50 ms | p95 ms | p99 ms | errors | shed | backoff |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i, s in enumerate(steps):
        mark = " **knee**" if i == knee else (" **collapse**" if i == collapse else "")
        lines.append(f"| {s.users}{mark} | {s.offered_sessions:.1f} | {s.sessions:.1f} | {s.requests:.0f} | "
                     f"{s.goodput:.0f} | {s.p50:.0f} | {s.p95:.0f} | {s.p99:.0f} | {s.error_rate:.2%} | "
                     f"{s.shed_rate:.2%} | {s.backoff_rate:.2%} |")
    lines.append("")
    if knee is not None:
        k = steps[knee]
        lines.append(f"Knee: {k.users} users, {k.sessions:.1f} sessions/s, {k.goodput:.0f} requests/s "
                     f"(p95 {k.p95:.0f} ms); throughput stopped growing at {steps[inflection].users} users.")
    else:
        best = max(steps, key=lambda s: s.goodput) if steps else None
        lines.append("Knee: not reached; the server kept pace with every step"
                     + (f" (best {best.goodput:.0f} requests/s, {best.sessions:.1f} sessions/s)." if best else "."))
    if collapse is not None:
        c = steps[collapse]
        lines.append(f"Collapse: {c.users} users ({c.goodput:.0f} requests/s, errors {c.error_rate:.2%}).")
    else:
        lines.append("Collapse: not reached.")
    return lines


def analyse(results: Path, interval: float, settle: int, title: str = "Sync sessions under step load") -> dict:
    steps = split_steps(read_history(results / "locust_stats_history.csv"), read_sessions(results / "sessions.csv"),
                        interval, settle)
    knee, inflection, collapse = find_points(steps)
    if steps:
        plot(steps, knee, collapse, results / "knee.png", title)
    summary = {"steps": [asdict(s) for s in steps], "knee": knee, "inflection": inflection, "collapse": collapse,
               "table": describe(steps, knee, inflection, collapse)}
    (results / "steps.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--interval", type=float, required=True, help="the run's sync interval in seconds")
    parser.add_argument("--settle", type=int, default=10, help="seconds dropped at the start of each step")
    args = parser.parse_args(argv)
    summary = analyse(args.results, args.interval, args.settle)
    print("\n".join(summary["table"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
