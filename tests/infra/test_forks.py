"""A forked child resets what it must not inherit; the parent keeps its own."""
import gc
import os

from syncstorage.infra.forks import reset_in_child


class Holder:
    def __init__(self):
        self.items = ["the parent's"]
        reset_in_child(self.reset)

    def reset(self):
        self.items = []


def _in_child(report) -> str:
    """What ``report()`` says in a forked child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's cleanup
        os.close(read)
        os.write(write, report().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        said = pipe.read()
    os.waitpid(pid, 0)
    return said


def test_a_child_starts_reset_and_the_parent_keeps_its_state():
    holder = Holder()
    assert _in_child(lambda: repr(holder.items)) == "[]"
    assert holder.items == ["the parent's"]


def test_a_holder_gone_is_neither_kept_alive_nor_called():
    holder = Holder()
    alive = [holder]
    del holder
    alive.clear()
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is Holder]  # the registration holds no reference
    assert _in_child(lambda: "ok") == "ok"  # and a fork after it is gone does not fail
