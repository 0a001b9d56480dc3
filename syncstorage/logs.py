"""Logging: one line per record on stderr, and one JSON line per request.

SYNCSTORAGE_LOG_LEVEL sets the level; SYNCSTORAGE_REQUEST_LOG=0 silences the
per-request lines (benchmarks of the bare request path).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time


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
    # request lines are JSON already: no prefix, so each line parses as it is
    requests = logging.getLogger("syncstorage.request")
    plain = logging.StreamHandler()
    plain.setFormatter(logging.Formatter("%(message)s"))
    requests.addHandler(plain)
    requests.propagate = False
    if os.environ.get("SYNCSTORAGE_REQUEST_LOG", "1") == "0":
        requests.setLevel(logging.WARNING)


REQUEST_LOG = logging.getLogger("syncstorage.request")


def user_hash(userid: int | None) -> str | None:
    """A stable, non-reversible tag for a user id in logs (the id itself is personal data)."""
    if userid is None:
        return None
    return hashlib.sha256(f"syncstorage-user:{userid}".encode()).hexdigest()[:16]


def log_request(*, method: str, route: str, status: int, seconds: float, userid: int | None, errno: str | None,
                backoff: str | None, crash_id: str | None) -> None:
    """One JSON line per request."""
    if not REQUEST_LOG.isEnabledFor(logging.INFO):
        return
    record = {"time": round(time.time(), 3), "method": method, "route": route, "status": status,
              "ms": round(seconds * 1000, 2), "user": user_hash(userid), "errno": errno, "backoff": backoff}
    if crash_id:
        record["crash_id"] = crash_id
    REQUEST_LOG.info(json.dumps(record, separators=(",", ":")))
