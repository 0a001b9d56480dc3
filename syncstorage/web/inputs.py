"""What the app takes from a request: bounded bodies, decoded parameters, JSON.

Every way a handler reads client input goes through here, so that hostile
input meets one set of rules:

* a body is read only up to the route's limit; a larger one (declared, or
  found while reading a chunked body) is refused with 413 before it is
  buffered, so memory never grows with what a client sends;
* query strings and form bodies that are not UTF-8 are a 400, not a crash;
* JSON is parsed strictly: not UTF-8, nested deeper than the parser's stack,
  NaN/Infinity, or strings holding lone surrogates (not Unicode text, and not
  storable as UTF-8) all count as unparseable.
"""
from __future__ import annotations

import io
import json
import re
from typing import Any

from webob import Request
from webob.request import DisconnectionError
from webob.multidict import MultiDict

from syncstorage.wire.errors import BadParameter, PayloadTooLarge

READ_CHUNK = 65536
# A lone surrogate can only come from a \uD800-\uDFFF escape: a UTF-8 body cannot carry one raw.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def read_body(req: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; 413 for more (declared or sent),
    400 for a body cut short (the client went away) or badly chunked.

    Read here rather than through WebOb's ``req.body``, which spools any body over
    10 KB to a temporary file first: a file created, written and read back on every
    POST of a few records, for a body whose size is already bounded."""
    declared = req.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(limit)
    if declared is None and "chunked" not in req.environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""  # no length and not chunked: HTTP/1.1 says there is no body
    try:
        body = _read(req.body_file_raw, declared, limit)
    except (DisconnectionError, OSError, ValueError) as error:  # gunicorn's body errors are IOErrors
        raise BadParameter(f"incomplete request body: {error}"[:200]) from None
    # Later readers (WebOb's req.POST) see the bounded copy, with its length.
    req.environ["wsgi.input"] = io.BytesIO(body)
    req.environ["CONTENT_LENGTH"] = str(len(body))
    req.environ.pop("HTTP_TRANSFER_ENCODING", None)
    req.environ["webob.is_body_readable"] = True
    req.environ["webob.is_body_seekable"] = True  # a BytesIO: WebOb need not copy it again
    return body


def _read(stream, declared: int | None, limit: int) -> bytes:
    """Exactly ``declared`` bytes of ``stream`` (ValueError when it ends first), or with no
    declared length all of it up to ``limit`` (PayloadTooLarge past that)."""
    wanted = declared if declared is not None else limit + 1
    out = bytearray()
    while len(out) < wanted:
        chunk = stream.read(min(READ_CHUNK, wanted - len(out)))
        if not chunk:
            if declared is not None:
                raise ValueError(f"{declared - len(out)} more bytes were expected")
            break
        out += chunk
    if len(out) > limit:
        raise PayloadTooLarge(limit)
    return bytes(out)


def query_params(req: Request) -> MultiDict:
    """The decoded query string; 400 when it is not UTF-8."""
    try:
        return req.GET
    except UnicodeDecodeError:
        raise BadParameter("query string is not UTF-8") from None


def form_params(req: Request, limit: int) -> MultiDict:
    """A form body (urlencoded or multipart) of at most ``limit`` bytes; 400 when not UTF-8."""
    read_body(req, limit)
    try:
        return req.POST
    except (UnicodeDecodeError, ValueError):
        raise BadParameter("form body is not UTF-8 form data") from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; ValueError for anything that is not UTF-8 JSON text."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, RecursionError) as error:
        raise ValueError(str(error)) from None
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise ValueError("a string holds a lone surrogate")
    return value


def _encodable(value: Any) -> bool:
    """Whether every string in ``value`` is Unicode text (UTF-8 encodable)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
