"""Metrics helpers."""
import time

import pytest

from syncstorage.infra.metrics import observe_queue


@pytest.mark.parametrize("header,expected", [
    ("t=1800000000.250", 0.75), ("1800000000.5", 0.5),     # seconds (nginx ${msec})
    ("t=1800000000250", 0.75), ("t=1800000000250000", 0.75),  # milliseconds, microseconds
    ("t=1800000002", 0.0),                                   # clocks a little apart: never negative
])
def test_queue_time_from_x_request_start(header, expected):
    assert observe_queue(header, 1800000001.0) == pytest.approx(expected)


def test_queue_time_ignores_garbage():
    assert observe_queue(None, time.time()) is None and observe_queue("t=soon", time.time()) is None

