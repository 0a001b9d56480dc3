"""Weave Basic Objects: validation and conversion of client input (spec §2.1).

:func:`parse_wbo` turns one decoded JSON value into a :class:`WBO` or raises
:class:`InvalidWBO` whose message is the exact failure string of the spec
(``invalid id``, ``invalid ttl``, ``payload too large``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NAME = r"[A-Za-z0-9._-]+"  # what user and collection names in URLs are made of
MAX_ID_BYTES = 64
MAX_PARENT_CHARS = 64
MAX_PAYLOAD_BYTES = 262144
MAX_TTL = 31536000
MAX_SORTINDEX = 999999999

# Field names whose absence matters for metadata-only writes (spec §2.2).
METADATA_FIELDS = ("sortindex", "parentid", "predecessorid", "ttl")


class InvalidWBO(ValueError):
    """The record breaks a rule of spec §2.1; ``str(exc)`` is the failure string."""


@dataclass
class WBO:
    """A validated record as written by a client.  ``None`` means "not given"."""

    id: str
    payload: str | None = None
    sortindex: int | None = None
    ttl: int | None = None
    parentid: str | None = None
    predecessorid: str | None = None

    @property
    def payload_size(self) -> int:
        """UTF-8 bytes of the payload (encrypted payloads are ASCII: counted without encoding)."""
        payload = self.payload
        if payload is None:
            return 0
        return len(payload) if payload.isascii() else len(payload.encode("utf-8"))

    def given_metadata(self) -> dict[str, Any]:
        """The metadata fields the client supplied (for metadata-only updates)."""
        return {name: getattr(self, name) for name in METADATA_FIELDS if getattr(self, name) is not None}


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def scalar_to_str(value: Any) -> str | None:
    """An id-like value as text: strings as is, numbers in their JSON spelling."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else None
    return None


def valid_id(value: str | None) -> bool:
    """1-64 bytes of printable ASCII (space to tilde), no slash (spec [A11])."""
    if value is None or not 1 <= len(value) <= MAX_ID_BYTES:
        return False
    # for ASCII text, isprintable() is exactly space to tilde; both checks run in C
    return value.isascii() and value.isprintable() and "/" not in value


def _as_int(value: Any, *, allow_float_string: bool) -> int | None:
    """Integer conversion with the reference server's leniency; None if impossible."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            if not allow_float_string:
                return None
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number == number and abs(number) != float("inf") else None
    return None


_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))  # the scalar types json.loads makes


def parse_wbo(data: Any, url_id: str | None = None) -> WBO:
    """Validate one record.  ``url_id`` (PUT) replaces the body id after validation.

    A null field is an absent one.  This runs once per uploaded record: the common
    types (a string id, integer sortindex and ttl) are taken without conversion."""
    if not isinstance(data, dict):
        raise InvalidWBO("invalid wbo")
    for value in data.values():
        if type(value) not in _JSON_SCALARS and not is_scalar(value):
            raise InvalidWBO("invalid wbo")
    get = data.get

    raw_id = get("id")
    body_id = None
    if raw_id is not None:
        body_id = raw_id if type(raw_id) is str else scalar_to_str(raw_id)
        if not valid_id(body_id):
            raise InvalidWBO("invalid id")
    elif url_id is None:
        raise InvalidWBO("invalid id")
    parentid = _relation(get("parentid"), "parentid")
    predecessorid = _relation(get("predecessorid"), "predecessorid")

    ttl = get("ttl")
    if ttl is not None:
        if type(ttl) is not int:
            ttl = _as_int(ttl, allow_float_string=False)
        if ttl is None or not 0 <= ttl <= MAX_TTL:
            raise InvalidWBO("invalid ttl")

    sortindex = get("sortindex")
    if sortindex is not None:
        if type(sortindex) is not int:
            sortindex = _as_int(sortindex, allow_float_string=True)
        if sortindex is None or not -MAX_SORTINDEX <= sortindex <= MAX_SORTINDEX:
            raise InvalidWBO("invalid sortindex")

    payload = get("payload")
    if payload is not None:
        if not isinstance(payload, str):
            raise InvalidWBO("payload not a string")
        if len(payload) > MAX_PAYLOAD_BYTES // 4 and len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise InvalidWBO("payload too large")

    return WBO(url_id if url_id is not None else body_id, payload, sortindex, ttl, parentid, predecessorid)


def _relation(value: Any, name: str) -> str | None:
    """parentid / predecessorid as text (None when absent)."""
    if value is None:
        return None
    text = value if type(value) is str else scalar_to_str(value)
    if text is None or len(text) > MAX_PARENT_CHARS:
        raise InvalidWBO(f"invalid {name}")
    return text
