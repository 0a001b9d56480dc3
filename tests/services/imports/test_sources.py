"""A source row becomes the stored columns, or a reason; nothing is altered silently."""
import pytest

from syncstorage.services.imports.sources import convert, valid_collection
from syncstorage.storage.schema import NO_EXPIRY


def row(**values):
    base = {"id": "abc", "modified": 1356998400.25, "payload": '{"ciphertext": "x"}', "sortindex": None,
            "parentid": None, "predecessorid": None, "ttl": None}
    base.update(values)
    return base


def test_a_row_becomes_the_stored_columns():
    columns, why = convert(row(sortindex=12, parentid="menu", predecessorid="p1", payload="é"))
    assert why is None
    assert columns == {"id": "abc", "modified": 135699840025, "payload": "é", "payload_size": 2, "sortindex": 12,
                       "ttl": NO_EXPIRY, "parentid": "menu", "predecessorid": "p1"}


def test_times_and_expiry():
    columns, _ = convert(row(modified=1000.004, ttl=60))
    assert columns["modified"] == 100000 and columns["ttl"] == 1060
    assert convert(row(ttl=10 ** 12))[0]["ttl"] == NO_EXPIRY
    assert convert(row(modified="1000.5"))[0]["modified"] == 100050  # SQLite may hand back text


def test_what_sources_store_loosely_is_normalised():
    assert convert(row(payload=None))[0]["payload"] == ""  # weave-minimal: a record sent without payload
    assert convert(row(predecessorid=42))[0]["predecessorid"] == "42"  # FSyncMS's INT column
    assert convert(row(sortindex=3.7))[0]["sortindex"] == 3  # weave-minimal floors
    assert convert(row(id=b"abc", payload=b"x"))[0]["id"] == "abc"


@pytest.mark.parametrize("values,reason", [
    ({"id": ""}, "id"), ({"id": "a/b"}, "id"), ({"id": "x" * 65}, "id"), ({"id": None}, "id"),
    ({"id": "é"}, "id"), ({"modified": None}, "modified"), ({"modified": "soon"}, "modified"),
    ({"modified": float("nan")}, "modified"), ({"modified": -1}, "modified"),
    ({"payload": "x" * 262145}, "over the limit"), ({"payload": b"\xff"}, "not UTF-8"),
    ({"payload": "\ud800"}, "not valid Unicode"), ({"payload": 12}, "not text"),
    ({"sortindex": 10 ** 10}, "sortindex"), ({"sortindex": "high"}, "sortindex"),
    ({"parentid": "p" * 65}, "parentid"), ({"ttl": -5}, "ttl"), ({"ttl": "never"}, "ttl"),
])
def test_rows_that_break_a_rule_are_refused_with_the_reason(values, reason):
    columns, why = convert(row(**values))
    assert columns is None and reason in why


def test_collection_names():
    assert valid_collection("bookmarks") and valid_collection("x" * 32)
    assert not valid_collection("x" * 33) and not valid_collection("a b") and not valid_collection("")
