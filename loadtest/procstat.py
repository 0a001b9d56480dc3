"""CPU time and context switches of a set of processes, read from /proc (Linux).

A benchmark on a shared 2-core machine cannot trust one requests/s figure;
the CPU each process spent per request, and how often its threads were
switched out, say where the time went.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Usage:
    """What processes consumed: CPU seconds (user + system) and context switches."""

    user: float = 0.0
    system: float = 0.0
    switches: int = 0

    def __sub__(self, other: "Usage") -> "Usage":
        return Usage(self.user - other.user, self.system - other.system, self.switches - other.switches)

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.user + other.user, self.system + other.system, self.switches + other.switches)

    @property
    def cpu(self) -> float:
        return self.user + self.system


def _stat_fields(path: Path) -> list[str]:
    # the command name (2nd field) may hold spaces and parentheses: split after its last ")"
    return path.read_text().rsplit(")", 1)[1].split()


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a gunicorn master and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat_fields(entry / "stat")[1])
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def usage(pids: list[int]) -> Usage:
    """CPU time and context switches (voluntary and not, over all threads) of ``pids`` so far;
    a process that has exited counts for nothing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = Usage()
    for pid in pids:
        try:
            fields = _stat_fields(PROC / str(pid) / "stat")
            tasks = list((PROC / str(pid) / "task").iterdir())
        except OSError:
            continue
        switches = 0
        for task in tasks:
            try:
                status = (task / "status").read_text()
            except OSError:
                continue  # a thread that just ended
            switches += sum(int(line.split()[1]) for line in status.splitlines()
                            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")))
        total += Usage(int(fields[11]) / tick, int(fields[12]) / tick, switches)
    return total


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root``'s process tree so far, including the descendants it has
    already reaped (a gunicorn worker that died or was replaced during a run): the live
    tree's own times plus ``root``'s children's times (cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = _stat_fields(PROC / str(root) / "stat")
    except OSError:
        return 0.0
    reaped = (int(fields[13]) + int(fields[14])) / tick
    return usage(tree(root)).cpu + reaped
