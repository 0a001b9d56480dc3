"""Response bodies: JSON with two-decimal timestamps, newlines and whoisi (spec §3.5).

Timestamps must appear in JSON as numbers with exactly two decimals
(``1300000000.10``), which no float serialiser produces, so the few shapes the
API returns are assembled here from ``json.dumps`` of their other parts.
"""
from __future__ import annotations

import json
import struct
from typing import Iterable, Mapping

import orjson
from webob.acceptparse import create_accept_header

from syncstorage.wire.timestamps import render

JSON = "application/json"
NEWLINES = "application/newlines"
WHOISI = "application/whoisi"

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
_quote = json.encoder.encode_basestring_ascii  # what _dumps does for a str


def quote_json(text: str) -> bytes:
    """``text`` as a JSON string: the bytes ``_quote`` writes (ASCII only).

    ``_quote`` looks at every character twice, in C, but one at a time: ~1.9M of a
    GET of 100 records' 9.7M instructions went on its payloads.  orjson escapes an
    ASCII string with vector instructions and writes the same bytes for every ASCII
    character but DEL (0x7f), which it leaves as is where ``ensure_ascii`` writes
    ``\\u007f``; anything else (non-ASCII, DEL) takes ``_quote``."""
    if text.isascii() and "\x7f" not in text:
        return orjson.dumps(text)
    return _quote(text).encode("ascii")


def record_bytes(record, stamps: dict) -> bytes:
    """One stored record as JSON (ASCII): id and modified always, the other fields when
    set; never ttl.  Strings are quoted exactly as ``_dumps`` would.  ``stamps`` keeps the
    rendered ``modified`` values across the records of one response (a batch shares one).
    Bytes throughout: the response's body is bytes, and a str would be copied twice more
    (decoded from orjson's bytes, encoded into the body)."""
    stamp = stamps.get(record.modified)
    if stamp is None:
        stamp = stamps[record.modified] = render(record.modified).encode("ascii")
    out = b'{"id": ' + quote_json(record.id) + b', "modified": ' + stamp
    if record.sortindex is not None:
        out += b', "sortindex": %d' % record.sortindex
    if record.parentid is not None:
        out += b', "parentid": ' + quote_json(record.parentid)
    if record.predecessorid is not None:
        out += b', "predecessorid": ' + quote_json(record.predecessorid)
    if record.payload is not None:
        return out + b', "payload": ' + quote_json(record.payload) + b"}"  # the payload copied once
    return out + b"}"


def records_json(records: Iterable) -> list[bytes]:
    """The records of one response, each as :func:`record_bytes` writes it."""
    stamps: dict = {}
    return [record_bytes(record, stamps) for record in records]


def record_json(record) -> str:
    """One stored record as :func:`record_bytes` writes it, as text."""
    return record_bytes(record, {}).decode("ascii")


def ids_json(ids: Iterable[str]) -> list[bytes]:
    """Record ids, each as a JSON string."""
    return [quote_json(item_id) for item_id in ids]


def timestamps_json(stamps: Mapping[str, int]) -> str:
    """``{"name": 1300000000.10, ...}`` from centisecond values (names quoted as ``_dumps`` would)."""
    return "{" + ", ".join([_quote(name) + ": " + render(ts) for name, ts in stamps.items()]) + "}"


def post_result_json(modified: int, success: Iterable[str], failed: Mapping[str, list[str]]) -> str:
    return ('{"modified": ' + render(modified) + ', "success": ' + _dumps(list(success))
            + ', "failed": ' + _dumps(dict(failed)) + "}")


def dumps(value) -> str:
    """Plain JSON for values without timestamps."""
    return _dumps(value)


def render_items(items: Iterable[bytes], media_type: str) -> bytes:
    """A list of already-serialised JSON values in the chosen layout."""
    if media_type == NEWLINES:
        return b"".join([item + b"\n" for item in items])
    if media_type == WHOISI:
        return b"".join([struct.pack(">I", len(item)) + item for item in items])
    return b"[" + b", ".join(items) + b"]"


# Tie-break order between exact matches of equal q (spec §3.5.3 rule 3).
_EXACT_PREFERENCE = (WHOISI, NEWLINES, JSON)


def choose_media_type(accept_header: str | None) -> str:
    """Pick json / newlines / whoisi for ``GET storage/{c}`` (spec §3.5.3)."""
    if not accept_header:
        return JSON
    accept = create_accept_header(accept_header)
    parsed = getattr(accept, "parsed", None)
    if not parsed:
        return JSON  # unparseable header
    best = None  # (q, exact, preference) -> type
    for offer in (JSON, NEWLINES, WHOISI):
        q, exact = _match_quality(parsed, offer)
        if q <= 0:
            continue
        rank = (q, exact, -_EXACT_PREFERENCE.index(offer) if exact else int(offer == JSON))
        if best is None or rank > best[0]:
            best = (rank, offer)
    return best[1] if best else JSON


def _match_quality(parsed, offer: str) -> tuple[float, bool]:
    """q-value of the most specific range matching ``offer``, and whether it was exact."""
    main = offer.split("/")[0]
    found = {}
    for media_range, q, _params, _ext in parsed:
        media_range = media_range.lower()
        if media_range == offer:
            specificity = 2
        elif media_range == main + "/*":
            specificity = 1
        elif media_range == "*/*":
            specificity = 0
        else:
            continue
        found.setdefault(specificity, q)
    if not found:
        return 0.0, False
    specificity = max(found)
    return found[specificity], specificity == 2
