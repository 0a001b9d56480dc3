"""inputs: bounded bodies, strict JSON, control characters."""
import io

import pytest
from hypothesis import given, strategies as st
from webob import Request

from syncstorage.wire.errors import BadParameter, PayloadTooLarge
from syncstorage.web.inputs import parse_json, read_body
from syncstorage.gate.passwords import has_control_characters


def request(body: bytes, *, declared: bool = True, chunked: bool = False) -> Request:
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body)}
    if declared:
        environ["CONTENT_LENGTH"] = str(len(body))
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    return Request.blank("/", environ)


def test_bodies_up_to_the_limit_are_read_whole():
    assert read_body(request(b"x" * 100), 100) == b"x" * 100
    assert read_body(request(b"x" * 100, declared=False, chunked=True), 100) == b"x" * 100
    assert read_body(request(b"x" * 100, declared=False), 100) == b""  # no length, not chunked: no body


def test_a_chunked_body_is_left_readable_for_form_parsing():
    req = request(b"a=1&b=2", declared=False, chunked=True)
    req.content_type = "application/x-www-form-urlencoded"
    read_body(req, 100)
    assert dict(req.POST) == {"a": "1", "b": "2"}


def test_larger_bodies_are_refused():
    with pytest.raises(PayloadTooLarge):
        read_body(request(b"x" * 101), 100)
    with pytest.raises(PayloadTooLarge):
        read_body(request(b"x" * 101, declared=False, chunked=True), 100)


def test_a_body_cut_short_is_a_400():
    req = request(b"x" * 50)
    req.environ["CONTENT_LENGTH"] = "80"  # the client promised more, then went away
    with pytest.raises(BadParameter, match="30 more bytes"):
        read_body(req, 100)


def test_large_bodies_are_read_in_memory_without_a_temporary_file(monkeypatch):
    """WebOb's req.body spools bodies over 10 KB to a file; a bounded body needs none."""
    import tempfile

    def refused(*args, **kwargs):
        raise AssertionError("a temporary file was created")
    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refused)
    body = b'{"payload": "' + b"x" * 200_000 + b'"}'
    req = request(body)
    assert read_body(req, 300_000) == body
    assert req.body == body  # and later readers see the same bytes


def test_json_is_strict():
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001F600"}
    for bad in (b"\xff", b"[" * 3000 + b"]" * 3000, b"NaN", b'"\\ud800"', b'{"\\udc00": 1}', b"[1,]"):
        with pytest.raises(ValueError):
            parse_json(bad)


@given(st.text())
def test_any_text_that_json_encodes_parses_back(text):
    import json
    assert parse_json(json.dumps(text).encode()) == text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def test_control_characters():
    assert not has_control_characters("a normal passphrase é 😀")
    for text in ("nul\x00", "tab\t", "line\n", "del\x7f", "c1\x85", "surrogate\ud800"):
        assert has_control_characters(text), repr(text)


def test_bad_parameter_is_a_400():
    assert BadParameter("x").status == 400 and PayloadTooLarge(1).status == 413
