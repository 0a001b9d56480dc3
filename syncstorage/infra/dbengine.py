"""SQLAlchemy engines for SQLite and MySQL/MariaDB, and backend-error classification.

SQLite runs in WAL mode with ``synchronous=NORMAL``; transactions are begun
explicitly so that write transactions can take the write lock up front
(``BEGIN IMMEDIATE``) instead of failing when they upgrade from a read.
MySQL uses READ COMMITTED (row locks without gap locks for our access paths)
and a bounded pool.
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable

import sqlalchemy as sa
from sqlalchemy import event, exc

from syncstorage.infra import mysqlconn

WRITE = "syncstorage_write"  # execution option: this transaction will write

# MySQL error codes worth one retry of the whole transaction.
DEADLOCK_CODES = {1205, 1213}

# A pooled MySQL connection idle longer than this is pinged before it is used.
IDLE_PING_SECONDS = 1.0

# Connection info key: the connection's last transaction ended in run_in_transaction and
# nothing ran on it since, so the pool need not roll it back when it is returned.
ENDED = "syncstorage_transaction_ended"


class BackendError(Exception):
    """The database could not be used (down, timed out, pool exhausted)."""


def is_sqlite(engine: sa.engine.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, pool_size: int = 8, max_overflow: int = 4, pool_timeout: float = 5.0,
                  sqlite_busy_timeout: float = 10.0, connect_timeout: float = 5.0,
                  read_timeout: float | None = 60.0, idle_ping: float | None = None,
                  clock: Callable[[], float] = time.monotonic) -> sa.engine.Engine:
    """An engine with a bounded pool.  For MySQL/MariaDB, ``connect_timeout`` and
    ``read_timeout`` bound how long a dead or hung server can hold a request (and its
    thread): the connection is dropped and the request fails with BackendError, and
    the pool opens new connections once a server answers again (a disconnect seen on
    one connection renews them all; one idle more than ``idle_ping`` seconds is pinged
    before use); its pool hands out the connection returned last (LIFO).
    ``read_timeout=None`` waits for ever (schema migrations).  With the C driver
    (``mysql+mysqldb://``) the timeouts are whole seconds, rounded up."""
    sa_url = sa.engine.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(sa_url.database)), exist_ok=True)
        engine = sa.create_engine(
            sa_url, connect_args={"timeout": sqlite_busy_timeout, "check_same_thread": False},
            pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout,
            poolclass=sa.pool.QueuePool)
        _prepare_sqlite(engine)
        return engine
    if sa_url.get_backend_name() in ("mysql", "mariadb"):
        query = dict(sa_url.query)
        query.setdefault("charset", "utf8mb4")
        sa_url = sa_url.set(query=query)
        timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout, "write_timeout": read_timeout}
        if sa_url.get_driver_name() == "mysqldb":  # the C library counts whole seconds
            timeouts = {name: math.ceil(seconds) for name, seconds in timeouts.items() if seconds is not None}
        engine = sa.create_engine(
            sa_url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout,
            pool_recycle=3600, isolation_level="READ COMMITTED", pool_reset_on_return=None,
            # The connection returned last is used next: a lightly loaded worker keeps using
            # one warm connection instead of rotating through every pooled one, each then
            # idle long enough to need a ping round trip first (_ping_when_idle).
            pool_use_lifo=True, connect_args=timeouts)
        if engine.dialect.driver == "pymysql":
            open_connections_as(engine, mysqlconn.Connection)
        elif engine.dialect.driver == "mysqldb":
            from syncstorage.infra import mysqlclient  # an optional dependency (setup.py's extra)
            open_connections_as(engine, mysqlclient.Connection)
        _ping_when_idle(engine, IDLE_PING_SECONDS if idle_ping is None else idle_ping, clock)
        _reset_unless_ended(engine)
        return engine
    raise ValueError(f"unsupported database URL {url!r} (use sqlite:///, mysql+pymysql:// or mysql+mysqldb://)")


def open_connections_as(engine: sa.engine.Engine, connection_class) -> None:
    """Open the engine's DBAPI connections as ``connection_class`` (same arguments)."""
    @event.listens_for(engine, "do_connect")
    def on_do_connect(_dialect, _record, cargs, cparams):
        return connection_class(*cargs, **cparams)


def _ping_when_idle(engine: sa.engine.Engine, idle: float, clock: Callable[[], float]) -> None:
    """Ping a pooled connection before use only when it sat idle more than ``idle`` seconds.

    SQLAlchemy's pre-ping pings at every checkout: a database round trip per
    request, which a busy server pays for nothing (its connections are seconds
    old at most, and a disconnect seen on any of them renews the whole pool).
    A connection that failed its ping is replaced before the request uses it."""
    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_conn, record):
        record.info["returned"] = clock()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_conn, record, _proxy):
        returned = record.info.get("returned")
        if returned is None or clock() - returned <= idle:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # whatever the driver raises: the pool connects anew
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error


def _reset_unless_ended(engine: sa.engine.Engine) -> None:
    """Roll a connection back when it returns to the pool, unless its transaction
    already ended in :func:`run_in_transaction` (the engine has no reset of its own:
    ``pool_reset_on_return=None``).

    SQLAlchemy's own reset sends a ROLLBACK after every transaction that a
    Connection committed itself: a database round trip per request for nothing.
    Every other return -- an exception, a connection used outside
    run_in_transaction, a statement after the commit -- is still rolled back."""
    @event.listens_for(engine, "reset")
    def on_reset(dbapi_conn, record, state):
        ended = record.info.pop(ENDED, False) if record is not None else False
        if not ended and not state.terminate_only:
            dbapi_conn.rollback()

    @event.listens_for(engine, "before_cursor_execute")
    def on_execute(conn, _cursor, _statement, _parameters, _context, _executemany):
        conn.info.pop(ENDED, None)  # a statement runs: a transaction may be open again


def _prepare_sqlite(engine: sa.engine.Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def is_deadlock(error: exc.DBAPIError) -> bool:
    orig = getattr(error, "orig", None)
    args = getattr(orig, "args", ())
    return bool(args) and args[0] in DEADLOCK_CODES


def is_backend_failure(error: Exception) -> bool:
    """True for errors that mean "the database is unavailable", not "the query is wrong"."""
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def run_in_transaction(engine: sa.engine.Engine, work, write: bool = False):
    """``work(conn)`` inside one transaction; returns its result.

    Write transactions are retried once after a deadlock, a lock timeout or a
    duplicate key.
    Unavailability (connection refused, lost, pool exhausted) becomes
    BackendError; IntegrityError is left to the caller to interpret.
    """
    attempts = 2 if write else 1
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                if write:
                    conn = conn.execution_options(**{WRITE: True})
                with conn.begin():
                    result = work(conn)
                conn.info[ENDED] = True  # committed, nothing since: no reset needed
                return result
        except exc.DBAPIError as error:
            # A duplicate key in a write usually means a concurrent transaction
            # created the row we were about to create (a locking read of a
            # missing row locks nothing under READ COMMITTED): the retry finds
            # and locks it.  A genuine conflict fails again and propagates.
            if attempt < attempts and (is_deadlock(error) or isinstance(error, exc.IntegrityError)):
                continue
            if isinstance(error, exc.IntegrityError):
                raise
            if is_backend_failure(error):
                raise BackendError(str(error.orig if error.orig is not None else error)) from error
            raise
        except exc.TimeoutError as error:  # pool exhausted
            raise BackendError(f"no database connection available: {error}") from error
    raise AssertionError("unreachable")
