"""The benchmarks' process handling."""
import os
import subprocess
import sys

from loadtest import servers
from loadtest.services import wait_for

# A master that exits on TERM, leaving a worker that ignores TERM (a gunicorn worker busy
# past its graceful timeout when the master is killed).
PARENT = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"],
    stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_leaves_no_process_of_the_group_behind():
    master = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    worker = int(master.stdout.readline())
    try:
        servers.stop(master, timeout=5)
        assert master.poll() is not None
        wait_for(lambda: not _alive(worker), 10, what="the orphaned worker to be killed")
    finally:
        if _alive(worker):
            os.kill(worker, 9)
