import json
import pytest
from hypothesis import given, strategies as st

from syncstorage.storage.base import Record
from syncstorage.wire.timestamps import render
from syncstorage.wire.formats import (JSON, NEWLINES, WHOISI, choose_media_type, ids_json, post_result_json,
                                      quote_json, record_json, records_json, render_items, timestamps_json)


def record(**kw):
    base = dict(id="a", modified=130000000010, sortindex=None, parentid=None, predecessorid=None, payload=None)
    base.update(kw)
    return Record(**base)


@pytest.mark.parametrize("text", ["", '{"ciphertext": "a+/=", "IV": "b"}', "".join(map(chr, range(128))) * 3,
                                  "\x7f", "a\x7fb", "\u00e9", "\U0001F600", "\ud800", "\\\"\n\t\x00\x1f"])
def test_quote_json_writes_the_bytes_of_the_json_module(text):
    assert quote_json(text) == json.dumps(text).encode("ascii")


@given(st.text(alphabet=st.characters(max_codepoint=0x7f)) | st.text())
def test_quote_json_writes_the_bytes_of_the_json_module_for_any_text(text):
    assert quote_json(text) == json.dumps(text).encode("ascii")


def test_record_json_has_two_decimal_modified_and_only_set_fields():
    assert record_json(record()) == '{"id": "a", "modified": 1300000000.10}'
    assert record_json(record(sortindex=-3, parentid="p", predecessorid="q", payload='{"x": "\\u00e9"}')) == (
        '{"id": "a", "modified": 1300000000.10, "sortindex": -3, "parentid": "p", "predecessorid": "q", '
        '"payload": "{\\"x\\": \\"\\\\u00e9\\"}"}')


@given(st.text(), st.text(), st.one_of(st.none(), st.text()), st.one_of(st.none(), st.integers(-10**9, 10**9)))
def test_record_json_reads_back_as_the_record(item_id, payload, parentid, sortindex):
    """Any text (non-ASCII, controls, quotes, lone surrogates) is escaped as json.dumps escapes it."""
    text = record_json(record(id=item_id, payload=payload, parentid=parentid, sortindex=sortindex))
    expected = {"id": item_id, "modified": 1300000000.10, "payload": payload}
    expected.update({k: v for k, v in (("parentid", parentid), ("sortindex", sortindex)) if v is not None})
    assert text.isascii() and json.loads(text) == expected


def test_the_records_of_a_response_each_carry_their_own_modified():
    """A response's records share rendered timestamps where their values are equal, and only there."""
    records = [record(id="a", modified=130000000010), record(id="b", modified=130000000011, payload="p"),
               record(id="c", modified=130000000010, sortindex=0)]
    assert records_json(records) == [
        b'{"id": "a", "modified": 1300000000.10}', b'{"id": "b", "modified": 1300000000.11, "payload": "p"}',
        b'{"id": "c", "modified": 1300000000.10, "sortindex": 0}']
    assert records_json(records) == [record_json(r).encode("ascii") for r in records]
    assert ids_json(["a", "\u00e9", 'q"']) == [b'"a"', b'"\\u00e9"', b'"q\\""']


def test_timestamps_and_post_result():
    assert timestamps_json({"meta": 130000000000, "c": 5}) == '{"meta": 1300000000.00, "c": 0.05}'
    assert post_result_json(130000000001, ["a"], {"b": ["invalid ttl"]}) == (
        '{"modified": 1300000000.01, "success": ["a"], "failed": {"b": ["invalid ttl"]}}')


def test_layouts():
    items = [b'"0"', b'"1"']
    assert render_items(items, JSON) == b'["0", "1"]'
    assert render_items(items, NEWLINES) == b'"0"\n"1"\n'
    assert render_items(items, WHOISI) == bytes.fromhex("00000003223022" "00000003223122")
    assert render_items([], NEWLINES) == b"" and render_items([], WHOISI) == b"" and render_items([], JSON) == b"[]"


@pytest.mark.parametrize("count", [1, 2, 3, 100])
def test_layouts_of_any_length(count):
    items = [b'{"id": "%d"}' % i for i in range(count)]
    assert render_items(items, JSON) == b"[" + b", ".join(items) + b"]"
    assert json.loads(render_items(items, JSON)) == [{"id": str(i)} for i in range(count)]
    assert render_items(items, NEWLINES) == b"".join(item + b"\n" for item in items)
    assert render_items(items, WHOISI) == b"".join(len(item).to_bytes(4, "big") + item for item in items)


def reference_record(r) -> str:
    """A record as the json module writes its fields, in the order the API gives them."""
    fields = [("id", json.dumps(r.id)), ("modified", render(r.modified))]
    fields += [(name, json.dumps(value)) for name, value in (("sortindex", r.sortindex), ("parentid", r.parentid),
               ("predecessorid", r.predecessorid), ("payload", r.payload)) if value is not None]
    return "{" + ", ".join(f'"{name}": {value}' for name, value in fields) + "}"


optional_text = st.one_of(st.none(), st.text())


optional_index = st.one_of(st.none(), st.integers(-10**9, 10**9))


@given(st.lists(st.tuples(st.text(), st.integers(0, 10**12), optional_text, optional_index, optional_text,
                          optional_text), max_size=5))
def test_records_json_writes_the_bytes_of_the_json_module(rows):
    """Every shape of record (the usual one, with sortindex and payload only, and all others)."""
    records = [Record(*row) for row in rows]
    assert records_json(records) == [reference_record(r).encode("ascii") for r in records]


@pytest.mark.parametrize("header,expected", [
    (None, JSON), ("", JSON), ("application/newlines", NEWLINES), ("application/whoisi", WHOISI),
    ("application/newlines, */*", NEWLINES), ("application/xxx", JSON), ("*/*", JSON), ("application/*", JSON),
    ("application/whoisi, application/newlines", WHOISI), ("application/newlines, application/whoisi", WHOISI),
    ("application/json;q=0.5, application/newlines;q=0.9", NEWLINES), ("application/newlines;q=0", JSON),
    ("application/whoisi;q=0.1, */*", JSON), ("Application/Newlines", NEWLINES), ("garbage;;;", JSON),
])
def test_accept_negotiation(header, expected):
    assert choose_media_type(header) == expected
