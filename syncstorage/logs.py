"""Logging: one line per record on stderr, and one JSON line per request.

SYNCSTORAGE_LOG_LEVEL sets the level; SYNCSTORAGE_REQUEST_LOG=0 silences the
per-request lines (benchmarks of the bare request path).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time

_json_string = json.encoder.encode_basestring_ascii  # what json.dumps does to a str, in C


def configure_logging(level: str | None = None) -> None:
    """Log to stderr once per process; SYNCSTORAGE_LOG_LEVEL sets the level (default INFO)."""
    root = logging.getLogger("syncstorage")
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("SYNCSTORAGE_LOG_LEVEL", "INFO"))
    root.propagate = False
    # Nothing here prints thread names or call sites; not collecting them saves
    # time on every record (logging HOWTO, "Optimization").
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    # request lines are JSON already: no prefix, so each line parses as it is
    requests = logging.getLogger("syncstorage.request")
    plain = logging.StreamHandler()
    plain.setFormatter(logging.Formatter("%(message)s"))
    requests.addHandler(plain)
    requests.propagate = False
    if os.environ.get("SYNCSTORAGE_REQUEST_LOG", "1") == "0":
        requests.setLevel(logging.WARNING)


REQUEST_LOG = logging.getLogger("syncstorage.request")


@functools.lru_cache(maxsize=65536)  # once per request: the same users come back
def user_hash(userid: int | None) -> str | None:
    """A stable, non-reversible tag for a user id in logs (the id itself is personal data)."""
    if userid is None:
        return None
    return hashlib.sha256(f"syncstorage-user:{userid}".encode()).hexdigest()[:16]


def log_request(*, method: str, route: str, status: int, seconds: float, userid: int | None, errno: str | None,
                backoff: str | None, crash_id: str | None) -> None:
    """One JSON line per request: time, method, route, status, ms, user, errno, backoff[, crash_id].

    Assembled by hand (every request pays for it); strings are escaped as json.dumps does.
    """
    if not REQUEST_LOG.isEnabledFor(logging.INFO):
        return
    user = user_hash(userid)
    line = (f'{{"time":{time.time():.3f},"method":{_json_string(method)},"route":{_json_string(route)},'
            f'"status":{int(status)},"ms":{seconds * 1000:.2f},'
            f'"user":{_json_string(user) if user else "null"},'
            f'"errno":{_json_string(errno) if errno is not None else "null"},'
            f'"backoff":{_json_string(backoff) if backoff is not None else "null"}'
            + (f',"crash_id":{_json_string(crash_id)}}}' if crash_id else "}"))
    REQUEST_LOG.info(line)
