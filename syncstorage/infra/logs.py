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
import sys
import threading
import time

from syncstorage.infra.forks import reset_in_child

_json_string = json.encoder.encode_basestring_ascii  # what json.dumps does to a str, in C


class BufferedLines(logging.Handler):
    """Request lines gathered in memory and written to ``fd`` in batches: every
    ``interval`` seconds, as soon as ``limit`` bytes wait, and at exit
    (``logging.shutdown`` flushes every handler).

    One write(2) per batch rather than one per request: each write releases the
    GIL, and on a busy worker every release hands the interpreter to another
    thread and back, which costs more than making the line (measured under
    load: ~2.5 context switches and ~15 % of the CPU of a cached request).  As
    with nginx's ``access_log ... buffer= flush=``, a worker killed outright
    loses its last ``interval`` of lines.
    """

    def __init__(self, fd: int, interval: float = 0.5, limit: int = 64 * 1024):
        super().__init__()
        self.fd = fd
        self.interval = interval
        self.limit = limit
        self._reset()
        reset_in_child(self._reset)  # a gunicorn worker starts with its own locks and no lines

    def _reset(self) -> None:
        self._lines: list[str] = []
        self._size = 0
        self._pid: int | None = None  # the process whose flushing thread runs
        self._wake = threading.Event()
        self._closed = False
        # lock order: self.lock (logging's) -> _write_lock -> _buffer_lock
        self._write_lock = threading.Lock()  # batches leave in the order they were taken
        self._buffer_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        self.add(line)

    def add(self, line: str) -> None:
        """Queue one line (without its newline) for the next batch."""
        line += "\n"
        with self._buffer_lock:  # covers an append, never a write
            if self._pid is None:  # the first line of this process
                self._pid = os.getpid()
                threading.Thread(target=self._flush_periodically, daemon=True, name="request-log").start()
            self._lines.append(line)
            self._size += len(line)
            full = self._size >= self.limit
        if full:
            self._wake.set()

    def _flush_periodically(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._buffer_lock:
                lines, self._lines, self._size = self._lines, [], 0
            if lines:
                data = "".join(lines).encode("utf-8")
                try:
                    while data:
                        data = data[os.write(self.fd, data):]
                except OSError:
                    pass  # stderr gone (a closed pipe): nothing to report it on either

    def close(self) -> None:
        self._closed = True
        self._wake.set()  # its thread ends after one last flush
        self.flush()
        super().close()


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
    requests.addHandler(BufferedLines(sys.stderr.fileno()))
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
    handlers = REQUEST_LOG.handlers
    if len(handlers) == 1 and type(handlers[0]) is BufferedLines and not handlers[0].filters \
            and handlers[0].level <= logging.INFO \
            and not REQUEST_LOG.filters:
        # What configure_logging sets up: the line goes straight into the batch.  A
        # LogRecord and logging's dispatch cost about as much as making the line.
        handlers[0].add(line)
    else:
        REQUEST_LOG.info(line)
