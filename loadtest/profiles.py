"""What Sync data looks like: record counts, payload sizes and TTLs per collection.

Sizes follow spec §7.5 and published averages: an active desktop profile
holds about 1 MB (history ~1,500 records, bookmarks 80-500, passwords ~10,
forms, tabs, clients, prefs).  Payloads are opaque to the server; what matters
is their size, so they are slices of one random base64 string.
"""
from __future__ import annotations

import base64
import os
import random
import uuid

PASSWORD = "loadtest-password"
DAY = 86400

_NOISE = base64.b64encode(os.urandom(96 * 1024)).decode("ascii")


def account_name(index: int) -> str:
    """User name of the index-th generated account."""
    return f"lt{index:08d}"


def payload(size: int, start: int | None = None) -> str:
    """An encrypted-record-like JSON string of ``size`` bytes (at least 144): base64
    ciphertext from ``start`` in the noise (random if None), a 24-character IV and a
    64-character hmac, as Firefox writes them."""
    body = max(16, size - 128)  # 128: the IV, the hmac and the JSON around them
    if start is None:
        start = random.randrange(0, len(_NOISE) - body)
    return '{"ciphertext": "%s", "IV": "%s", "hmac": "%s"}' % (_NOISE[start:start + body], _NOISE[:24],
                                                               _NOISE[24:88])


def record_id(collection: str) -> str:
    if collection == "passwords":
        return "{%s}" % uuid.uuid4()
    return base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")


# collection -> (count range of a full profile, payload size range, ttl seconds or None, has sortindex)
FULL = {
    "history": ((1200, 1800), (300, 700), 60 * DAY, True),
    "bookmarks": ((80, 500), (200, 450), None, True),
    "passwords": ((5, 15), (400, 600), None, False),
    "forms": ((30, 80), (120, 200), 60 * DAY, False),
    "tabs": ((1, 1), (2000, 6000), 7 * DAY, False),
    "clients": ((1, 3), (250, 400), 21 * DAY, False),
    "prefs": ((1, 1), (1500, 2500), None, False),
    "addons": ((5, 20), (250, 400), None, False),
}
LIGHT = {
    "bookmarks": ((5, 15), (200, 450), None, True),
    "tabs": ((1, 1), (800, 2000), 7 * DAY, False),
    "clients": ((1, 1), (250, 400), 21 * DAY, False),
}


def records(collection: str, count: int) -> list[dict]:
    """``count`` upload-ready records for ``collection`` (as a client would POST them)."""
    _counts, sizes, ttl, sortindex = FULL.get(collection, ((1, 1), (200, 500), None, False))
    out = []
    for _ in range(count):
        rec = {"id": record_id(collection), "payload": payload(random.randint(*sizes))}
        if sortindex:
            rec["sortindex"] = random.randint(0, 2000)
        if ttl:
            rec["ttl"] = ttl
        out.append(rec)
    return out


def initial_data_set(profile: dict = FULL) -> dict[str, list[dict]]:
    """What a first sync uploads: every collection of the profile."""
    return {collection: records(collection, random.randint(*spec[0])) for collection, spec in profile.items()}
