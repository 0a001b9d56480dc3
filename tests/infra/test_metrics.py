"""Metrics helpers."""
import time

import pytest

from loadtest.services import wait_for
from syncstorage.infra.metrics import Pending, observe_queue


@pytest.mark.parametrize("header,expected", [
    ("t=1800000000.250", 0.75), ("1800000000.5", 0.5),     # seconds (nginx ${msec})
    ("t=1800000000250", 0.75), ("t=1800000000250000", 0.75),  # milliseconds, microseconds
    ("t=1800000002", 0.0),                                   # clocks a little apart: never negative
])
def test_queue_time_from_x_request_start(header, expected):
    assert observe_queue(header, 1800000001.0) == pytest.approx(expected)


def test_queue_time_ignores_garbage():
    assert observe_queue(None, time.time()) is None and observe_queue("t=soon", time.time()) is None



def _fresh(name):
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    counter = Counter(name + "_total", "c", ["kind"], registry=registry)
    histogram = Histogram(name + "_seconds", "h", buckets=(0.005, 0.01, 0.1), registry=registry)
    return registry, counter, histogram


def test_deferred_observations_land_where_direct_ones_do():
    values = [0.0, 0.004, 0.005, 0.0050001, 0.01, 0.05, 0.1, 0.2, 1000.0]  # bounds are inclusive
    direct, _counter, hist = _fresh("direct")
    for v in values:
        hist.observe(v)
    deferred, counter, hist = _fresh("deferred")
    pending = Pending(interval=3600)
    for v in values:
        pending.observe(hist, v)
    pending.count(counter.labels("a"))
    pending.count(counter.labels("a"), 2)
    assert deferred.get_sample_value("deferred_seconds_count") is None or \
        deferred.get_sample_value("deferred_seconds_count") == 0  # nothing until the flush
    pending.flush()
    for le in ("0.005", "0.01", "0.1", "+Inf"):
        assert deferred.get_sample_value("deferred_seconds_bucket", {"le": le}) == \
            direct.get_sample_value("direct_seconds_bucket", {"le": le})
    assert deferred.get_sample_value("deferred_seconds_sum") == pytest.approx(sum(values))
    assert deferred.get_sample_value("deferred_total", {"kind": "a"}) == 3


def test_deferred_counts_from_many_threads_all_arrive_and_flush_on_their_own():
    import threading

    registry, counter, _hist = _fresh("threads")
    pending = Pending(interval=0.05)
    child = counter.labels("x")

    def work():
        for _ in range(5000):
            pending.count(child)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: registry.get_sample_value("threads_total", {"kind": "x"}) == 40000, 10, interval=0.01,
             what="the periodic flush")


def test_made_up_methods_share_one_label():
    from syncstorage.infra import metrics

    before = len(metrics._request_children)
    for n in range(500):  # a client's invented methods
        metrics.observe_request("unmatched", f"M{n:04d}X", 405, 0.001)
    metrics.observe_request("unmatched", "GET", 404, 0.001)
    assert len(metrics._request_children) <= before + 2
    text = metrics.render()[0].decode()
    assert 'method="other"' in text and "M0001X" not in text
