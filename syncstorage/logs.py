"""Logging set-up: one line per record on stderr."""
from __future__ import annotations

import logging
import os


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
