"""Response bodies: JSON with two-decimal timestamps, newlines and whoisi (spec §3.5).

Timestamps must appear in JSON as numbers with exactly two decimals
(``1300000000.10``), which no float serialiser produces, so the few shapes the
API returns are assembled here from ``json.dumps`` of their other parts.
"""
from __future__ import annotations

import json
import struct
from typing import Iterable, Mapping, Sequence

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


# The shape of nearly every stored record (clients set sortindex and payload, rarely
# parentid or predecessorid): one %-format writes it with a single allocation.
_USUAL_RECORD = b'{"id": %b, "modified": %b, "sortindex": %d, "payload": %b}'


def records_json(records: Iterable) -> list[bytes]:
    """The records of one response as JSON (ASCII), each a ``Record``-shaped tuple (id,
    modified, payload, sortindex, parentid, predecessorid): id and modified always, the
    other fields when set; never ttl.  Strings are quoted exactly as ``_dumps`` would.
    Records with equal ``modified`` share its rendering (a batch shares one).  Bytes
    throughout: the response's body is bytes, and a str would be copied twice more
    (decoded from orjson's bytes, encoded into the body).

    Fields are unpacked, not read as attributes, and the usual shape is one format: a
    GET of 100 records spent more on per-field concatenation and attribute lookups
    than on quoting its payloads."""
    stamps: dict = {}
    rendered = []
    append = rendered.append
    for id_, modified, payload, sortindex, parentid, predecessorid in records:
        stamp = stamps.get(modified)
        if stamp is None:
            stamp = stamps[modified] = render(modified).encode("ascii")
        if parentid is None and predecessorid is None and sortindex is not None and payload is not None:
            append(_USUAL_RECORD % (quote_json(id_), stamp, sortindex, quote_json(payload)))
            continue
        out = [b'{"id": ', quote_json(id_), b', "modified": ', stamp]
        if sortindex is not None:
            out.append(b', "sortindex": %d' % sortindex)
        if parentid is not None:
            out += (b', "parentid": ', quote_json(parentid))
        if predecessorid is not None:
            out += (b', "predecessorid": ', quote_json(predecessorid))
        if payload is not None:
            out += (b', "payload": ', quote_json(payload))
        out.append(b"}")
        append(b"".join(out))
    return rendered


def record_json(record) -> str:
    """One stored record as :func:`records_json` writes it, as text."""
    return records_json((record,))[0].decode("ascii")


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


def render_items(items: Sequence[bytes], media_type: str) -> bytes:
    """A list of already-serialised JSON values in the chosen layout.

    The body is copied once, by one join: a GET's body is its records' bytes, and
    concatenating around a join would copy all of it again (twice for the brackets)."""
    if media_type == NEWLINES:
        return b"\n".join([*items, b""]) if items else b""  # the empty last part ends the last line
    if media_type == WHOISI:
        return b"".join([part for item in items for part in (struct.pack(">I", len(item)), item)])
    if len(items) < 2:
        return b"[" + b"".join(items) + b"]"
    return b", ".join([b"[" + items[0], *items[1:-1], items[-1] + b"]"])


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
