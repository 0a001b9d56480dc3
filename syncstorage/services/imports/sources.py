"""What an import reads from another Sync 1.1 server: accounts and their records,
converted to this service's stored form and checked against its rules.

A source (weave_minimal.py, fsyncms.py) lists :class:`SourceAccount` s and
yields each account's records per collection as raw rows (dicts with ``id``,
``modified`` in seconds, ``payload``, ``sortindex``, ``parentid``,
``predecessorid`` and ``ttl`` in seconds after ``modified``, any of them None).
:func:`convert` turns a raw row into the columns this service stores, or says
why it cannot: a row that breaks a rule of the protocol is reported, never
silently dropped or altered.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

from syncstorage.storage.schema import NO_EXPIRY
from syncstorage.wire.wbo import MAX_PARENT_CHARS, MAX_PAYLOAD_BYTES, MAX_SORTINDEX, NAME, valid_id

COLLECTION_RE = re.compile(NAME)
MAX_COLLECTION_CHARS = 32  # storage/schema.py: collections.name


class BadSource(Exception):
    """The source cannot be read at all (missing folder, unreachable database, wrong schema)."""


@dataclass
class SourceAccount:
    """An account of the source server.  ``password_hash`` is in this service's stored
    form (gate/passwords.py's legacy schemes), None when the source's is unreadable;
    ``problems`` are what is wrong with the account as a whole."""

    username: str
    password_hash: str | None
    email: str | None = None
    key: Any = None  # the source's own handle on the account (a file, a user name)
    problems: list[str] = field(default_factory=list)


class Source(Protocol):
    kind: str  # "weave-minimal", "fsyncms"

    def accounts(self) -> list[SourceAccount]:
        """Every account, in a stable order."""

    def collections(self, account: SourceAccount) -> list[str]:
        """The account's collection names as the source stores them."""

    def rows(self, account: SourceAccount, collection: str) -> Iterator[dict]:
        """The collection's records as raw rows, in id order."""

    def problems(self) -> list[str]:
        """What is wrong with the source outside any account (stray files, orphaned rows)."""

    def close(self) -> None:
        ...


def valid_collection(name: str) -> bool:
    return len(name) <= MAX_COLLECTION_CHARS and COLLECTION_RE.fullmatch(name) is not None


def convert(raw: dict) -> tuple[dict | None, str | None]:
    """``(columns, None)`` for a raw source row, or ``(None, why)`` when it breaks a rule.

    ``modified`` becomes centiseconds (the sources keep seconds with two decimals);
    a ``ttl`` becomes the expiry in whole seconds, as this service stores it (expired
    records are imported too: clients never see them, as on the source, and purge-ttl
    removes them); a missing payload becomes the empty string."""
    item_id = raw.get("id")
    if isinstance(item_id, bytes):
        item_id = _text(item_id)
    if not isinstance(item_id, str) or not valid_id(item_id):
        return None, f"id {item_id!r} is not 1-64 printable ASCII characters without '/'"
    label = f"record {item_id!r}"
    modified = _number(raw.get("modified"))
    if modified is None or modified < 0:
        return None, f"{label}: modified {raw.get('modified')!r} is not a time"
    payload = raw.get("payload")
    if isinstance(payload, bytes):
        payload = _text(payload)
        if payload is None:
            return None, f"{label}: payload is not UTF-8"
    if payload is None:
        payload = ""
    if not isinstance(payload, str):
        return None, f"{label}: payload is not text"
    try:
        size = len(payload.encode("utf-8"))
    except UnicodeEncodeError:
        return None, f"{label}: payload is not valid Unicode"
    if size > MAX_PAYLOAD_BYTES:
        return None, f"{label}: payload of {size} bytes is over the limit of {MAX_PAYLOAD_BYTES}"
    sortindex = raw.get("sortindex")
    if sortindex is not None:
        number = _number(sortindex)
        if number is None or not -MAX_SORTINDEX <= number <= MAX_SORTINDEX:
            return None, f"{label}: sortindex {sortindex!r} is not an integer within +-{MAX_SORTINDEX}"
        sortindex = math.floor(number)
    relations = {}
    for name in ("parentid", "predecessorid"):
        value = raw.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(int(value)) if value == int(value) else str(value)  # FSyncMS's INT predecessorid
        if isinstance(value, bytes):
            value = _text(value)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_PARENT_CHARS):
            return None, f"{label}: {name} {raw.get(name)!r} is not text of at most {MAX_PARENT_CHARS} characters"
        relations[name] = value
    ttl = raw.get("ttl")
    if ttl is None:
        expiry = NO_EXPIRY
    else:
        seconds = _number(ttl)
        if seconds is None or seconds < 0:
            return None, f"{label}: ttl {ttl!r} is not a number of seconds"
        expiry = min(NO_EXPIRY, int(modified + seconds))
    return {"id": item_id, "modified": int(round(modified * 100)), "payload": payload, "payload_size": size,
            "sortindex": sortindex, "ttl": expiry, **relations}, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
