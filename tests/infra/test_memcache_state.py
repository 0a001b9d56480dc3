"""What an entry's log says (``memcache._state``), case by case, without memcached."""
import json

import pytest

from syncstorage.infra.memcache import MAX_EVENTS, VOID, _state, apply_patch

NOW, EPOCH = 1000.0, 7


def log(head, *events):
    return ",".join(json.dumps(item) for item in (head, *events))


CLEAN = {"s": "clean", "e": EPOCH, "v": {"a": 1}}


def w(owner, until=NOW + 5):
    return {"w": owner, "u": until}


def d(owner, patch):
    return {"d": owner, "p": patch}


B2 = {"set": {"b": 2}}


@pytest.mark.parametrize("raw, value, in_flight", [
    (None, VOID, False),
    (log(CLEAN), {"a": 1}, False),
    (log({**CLEAN, "e": EPOCH - 1}), VOID, False),  # before an epoch bump
    (log(CLEAN, w("x"), d("x", B2)), {"a": 1, "b": 2}, False),
    (log(CLEAN, w("x"), d("x", B2), w("y"), d("y", {"set": {"a": None}})), {"b": 2}, False),
    (log(CLEAN, w("x"), d("x", {"all": {}})), {}, False),
    (log(CLEAN, w("x")), VOID, True),  # in flight: readers go to the database
    (log(CLEAN, w("x", until=NOW - 1)), VOID, False),  # its writer died: rebuilt
    (log(CLEAN, w("x"), d("x", None)), VOID, False),  # failed or without a patch
    (log(CLEAN, w("x"), w("y"), d("x", B2), d("y", B2)), VOID, False),  # overlapping
    (log(CLEAN, w("x"), w("y"), d("y", B2), d("x", B2)), VOID, False),
    (log(CLEAN, w("x"), w("y"), d("y", B2)), VOID, True),
    (log(CLEAN, d("x", B2)), VOID, False),  # not announced here
    (log(CLEAN, w("x"), d("y", B2)), VOID, True),
    (log({"s": "dirty", "e": 0, "o": "x", "u": NOW + 5}), VOID, True),
    (log({"s": "dirty", "e": 0, "o": "x", "u": NOW + 5}, d("x", B2)), VOID, False),
    (log({"s": "dirty", "e": 0, "o": None, "u": 0}), VOID, False),
    ('{"s":"clean","e":7,"v":1},{"w"', VOID, False),  # not JSON
    ("[1, 2]", VOID, False),
    (log({"s": "other"}), VOID, False),
    (log(CLEAN, {"z": 1}), VOID, False),
    (log(CLEAN, w("x"), {"d": "x", "p": {"set": 3}}), VOID, False),
])
def test_what_a_log_says(raw, value, in_flight):
    assert _state(raw, EPOCH, NOW)[:2] == (value, in_flight)


def test_bytes_read_like_text():
    assert _state(log(CLEAN, w("x"), d("x", B2)).encode(), EPOCH, NOW) == ({"a": 1, "b": 2}, False, 2)


def test_a_log_longer_than_the_bound_is_void():
    events = [e for n in range(MAX_EVENTS // 2 + 1) for e in (w(str(n)), d(str(n), B2))]
    assert _state(log(CLEAN, *events), EPOCH, NOW) == (VOID, False, len(events))


def test_patches():
    assert apply_patch({"a": 1}, {"set": {"a": None, "b": [1]}}) == {"b": [1]}
    assert apply_patch({"a": 1}, {"all": {}}) == {}
    base = {"a": 1}
    apply_patch(base, {"set": {"a": 2}})
    assert base == {"a": 1}


def test_what_only_the_json_module_reads_is_read():
    value = {"email": "\ud800@example.com"}  # a lone surrogate, as json.dumps writes it
    raw = json.dumps({"s": "clean", "e": EPOCH, "v": value})
    assert _state(raw, EPOCH, NOW) == (value, False, 0)
