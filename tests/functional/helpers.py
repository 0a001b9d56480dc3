"""Helpers for functional tests."""
import time

from loadtest.services import wait_for


def wait_for_next_tick(seconds: float = 0.011) -> None:
    """Let the server clock move past the current 10 ms timestamp."""
    start = time.time()
    wait_for(lambda: time.time() - start >= seconds, 1.0, interval=0.002, what="the clock")


def seed(testapp, root):
    """A record that hostile requests must leave as it is (see intact)."""
    testapp.put(f"{root}/storage/c/keep", '{"payload": "precious", "sortindex": 1}')


def intact(testapp, root):
    record = testapp.get(f"{root}/storage/c/keep").json
    assert (record["payload"], record["sortindex"]) == ("precious", 1)
