"""The capacity model behind ``syncstorage capacity`` (docs/capacity.md explains it).

Demand: peak sync sessions/s = users x active fraction / sync interval x
peak factor (busiest hour over the daily mean), plus headroom.  Supply: one
node carries the sessions/s at the knee measured by the load-test harness
(loadtest/knee.py) on a node of ``node_cores`` cores.  A node is also bounded
by disk (all its users' records, at most ``disk_fill`` of the disk) and by
RAM (its active users' hot set must fit the InnoDB buffer pool, a
``buffer_pool_share`` of RAM).  The node count is the largest of the three,
and the table says which one decided.  memcached holds one metadata entry,
one account entry and one verified credential per active user.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Measured (docs/benchmarks.md), used as defaults:
KNEE_SESSIONS = 256.0        # sessions/s at the knee, 2-core box running app + MariaDB + memcached
KNEE_CORES = 2
RECORDS_PER_SESSION = 5.6    # mean records uploaded per session in the historic mix (loadtest/locustfile.py)
WRITE_CEILING = 15034.0      # records/s, POST of 100 record-shaped records to MariaDB on the same 2-core box
DISK_PER_RECORD = 1200       # bytes on disk per record with indexes: 19 GB / 15.9M records (step-1m data set)
CACHE_BYTES_PER_USER = 1380  # memcached bytes per active user: 1,142 measured (loadtest/cachesize.py) + slab rounding


def _input(default, help_text: str):
    return field(default=default, metadata={"help": help_text})


@dataclass
class Inputs:
    """Every input of the model, with its default and meaning (the command's options come from here)."""

    users: int = _input(1_000_000, "accounts to carry")
    active_fraction: float = _input(0.25, "share of users syncing at the busiest hour")
    sync_interval: float = _input(600.0, "seconds between an active user's syncs")
    peak_factor: float = _input(2.0, "busiest hour over the daily mean")
    headroom: float = _input(0.25, "spare capacity on top of the peak")
    knee_sessions: float = _input(KNEE_SESSIONS, "sessions/s one node carries at the knee")
    node_cores: int = _input(KNEE_CORES, "cores of the node the knee was measured on")
    records_per_user: float = _input(2000.0, "records a user stores (a full profile of loadtest/profiles.py)")
    hot_fraction: float = _input(0.1, "share of an active user's rows read or written in a day")
    node_ram_gb: float = _input(24.0, "RAM per node, GB")
    buffer_pool_share: float = _input(0.6, "share of RAM given to the InnoDB buffer pool")
    node_disk_gb: float = _input(250.0, "disk per node, GB")
    disk_fill: float = _input(0.7, "highest share of the disk to fill")


@dataclass
class Line:
    what: str
    value: float
    unit: str
    how: str


@dataclass
class Plan:
    inputs: Inputs
    lines: list[Line] = field(default_factory=list)
    nodes: int = 0
    limited_by: str = ""

    def add(self, what: str, value: float, unit: str, how: str) -> float:
        self.lines.append(Line(what, value, unit, how))
        return value

    def as_dict(self) -> dict:
        return {"inputs": asdict(self.inputs), "nodes": self.nodes, "limited_by": self.limited_by,
                "lines": [asdict(line) for line in self.lines]}


def plan(i: Inputs) -> Plan:
    """Nodes, databases, memcached memory and cores for ``i``; every step recorded in ``lines``."""
    if i.users < 0 or not 0 < i.active_fraction <= 1 or i.sync_interval <= 0 or i.knee_sessions <= 0:
        raise ValueError("users >= 0, 0 < active fraction <= 1, sync interval > 0 and knee > 0 are required")
    p = Plan(i)
    active = p.add("active users", i.users * i.active_fraction, "users", "users x active fraction")
    mean = p.add("mean sessions/s", active / i.sync_interval, "sessions/s", "active users / sync interval")
    peak = p.add("peak sessions/s", mean * i.peak_factor, "sessions/s", f"mean x peak factor {i.peak_factor:g}")
    need = p.add("sessions/s to provision", peak * (1 + i.headroom), "sessions/s",
                 f"peak x (1 + headroom {i.headroom:.0%})")
    by_cpu = p.add("nodes for CPU", math.ceil(need / i.knee_sessions), "nodes",
                   f"ceil(provisioned / knee {i.knee_sessions:g} sessions/s per {i.node_cores}-core node)")
    disk_total = p.add("data on disk", i.users * i.records_per_user * DISK_PER_RECORD / 1e9 * (1 + i.headroom),
                       "GB", f"users x {i.records_per_user:g} records x {DISK_PER_RECORD} B x (1 + headroom)")
    by_disk = p.add("nodes for disk", math.ceil(disk_total / (i.node_disk_gb * i.disk_fill)), "nodes",
                    f"ceil(data / ({i.node_disk_gb:g} GB x fill {i.disk_fill:.0%}))")
    hot = p.add("hot set", active * i.records_per_user * i.hot_fraction * DISK_PER_RECORD / 1e9 * (1 + i.headroom),
                "GB", f"active users x records x hot fraction {i.hot_fraction:g} x {DISK_PER_RECORD} B x (1 + headroom)")
    pool = i.node_ram_gb * i.buffer_pool_share
    by_ram = p.add("nodes for RAM", math.ceil(hot / pool), "nodes",
                   f"ceil(hot set / buffer pool {pool:g} GB = {i.buffer_pool_share:.0%} of {i.node_ram_gb:g} GB)")
    limits = {"CPU (sessions/s at the knee)": by_cpu, "disk": by_disk, "RAM (hot set)": by_ram}
    p.nodes = max(1, *limits.values())
    p.limited_by = max(limits, key=limits.get)
    p.add("storage nodes", p.nodes, "nodes", f"max of CPU, disk, RAM: limited by {p.limited_by}")
    p.add("node capacity (nodes add --capacity)", math.ceil(i.users * (1 + i.headroom) / p.nodes), "users",
          "users x (1 + headroom) / nodes")
    p.add("sessions/s per node at peak", peak / p.nodes, "sessions/s",
          f"peak / nodes; {peak / p.nodes / i.knee_sessions:.0%} of the knee")
    writes = p.add("records written/s per node at peak", peak / p.nodes * RECORDS_PER_SESSION, "records/s",
                   f"x {RECORDS_PER_SESSION:g} records per session; write ceiling {WRITE_CEILING:g}/s")
    p.add("database write headroom", WRITE_CEILING / writes if writes else float("inf"), "x",
          "write ceiling / records written per node")
    p.add("MySQL servers", 2 * p.nodes + 2, "servers", "a primary and a replica per node, plus the user database's")
    p.add("memcached memory", active * CACHE_BYTES_PER_USER / 1e9 * (1 + i.headroom), "GB",
          f"active users x {CACHE_BYTES_PER_USER} B x (1 + headroom)")
    p.add("cores", p.nodes * i.node_cores, "cores", f"nodes x {i.node_cores} (app, MariaDB, memcached per node)")
    return p


def knee_from_result(results_dir: str | Path) -> float:
    """Sessions/s at the knee of a load-test result (its steps.json)."""
    summary = json.loads((Path(results_dir) / "steps.json").read_text())
    if summary.get("knee") is None:
        raise ValueError(f"{results_dir}: no knee was found in that run (raise the step count)")
    return float(summary["steps"][summary["knee"]]["sessions"])


def render(p: Plan) -> str:
    rows = [("quantity", "value", "unit", "how")]
    for line in p.lines:
        value = f"{line.value:,.0f}" if line.value >= 100 or float(line.value).is_integer() else f"{line.value:,.2f}"
        rows.append((line.what, value, line.unit, line.how))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    out = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)
