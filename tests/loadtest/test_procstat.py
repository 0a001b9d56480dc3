"""loadtest.procstat reads CPU time and context switches of a process tree from /proc."""
import subprocess
import sys

from loadtest import procstat
from loadtest.services import wait_for

BURNER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
start = time.process_time()
while time.process_time() - start < 0.3:
    pass
print(child.pid, flush=True)
sys.stdin.read()
child.kill()
"""


def test_tree_and_usage_of_a_process_that_burned_cpu():
    proc = subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert set(procstat.tree(proc.pid)) >= {proc.pid, child}
        assert proc.pid not in procstat.tree(child)
        spent = procstat.usage([proc.pid])
        assert spent.cpu >= 0.25 and spent.switches >= 1
        assert procstat.usage([proc.pid, child]).cpu >= spent.cpu
    finally:
        proc.communicate("", timeout=30)
    wait_for(lambda: procstat.usage([proc.pid]) == procstat.Usage(), 10, what="the exited process to count for nothing")


def test_usage_differences():
    a, b = procstat.Usage(1.0, 0.5, 10), procstat.Usage(0.25, 0.25, 4)
    assert a - b == procstat.Usage(0.75, 0.25, 6) and (a - b).cpu == 1.0


REAPER = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import time\\nstart = time.process_time()\\nwhile time.process_time() - start < 0.3: pass"])
child.wait()
print("reaped", flush=True)
sys.stdin.read()
"""


def test_tree_cpu_keeps_what_a_reaped_child_spent():
    """A worker that died during a run still counts (the master reaped it: cutime, cstime)."""
    proc = subprocess.Popen([sys.executable, "-c", REAPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "reaped"
        assert procstat.tree(proc.pid) == [proc.pid]
        assert procstat.usage([proc.pid]).cpu < 0.25 <= procstat.tree_cpu(proc.pid)
    finally:
        proc.communicate("", timeout=30)
