"""Periodic: one load per interval, however many readers."""
import threading

from syncstorage.infra.periodic import Periodic


def test_loads_once_per_interval():
    now, loads = [0.0], []
    value = Periodic(lambda: loads.append(now[0]) or len(loads), refresh=2, clock=lambda: now[0])
    assert value.last() is None
    assert [value.get() for _ in range(5)] == [1] * 5
    now[0] = 1.9
    assert value.get() == 1
    now[0] = 2.0
    assert value.get() == 2 and loads == [0.0, 2.0]
    value.put(99)
    assert value.get() == 99 and value.last() == 99


def test_concurrent_readers_at_expiry_wait_for_one_load():
    started, release, loads = threading.Event(), threading.Event(), []

    def load():
        loads.append(1)
        started.set()
        release.wait(10)
        return "fresh"

    value = Periodic(load, refresh=60)
    readers = [threading.Thread(target=value.get) for _ in range(8)]
    for r in readers:
        r.start()
    assert started.wait(10)
    release.set()
    for r in readers:
        r.join(10)
    assert loads == [1] and value.get() == "fresh"
