"""The mysqlclient connection the MySQL engine opens for ``mysql+mysqldb://`` URLs: the C
driver, with parameters written as cheaply as :mod:`syncstorage.infra.mysqlconn` writes
them for PyMySQL.

mysqlclient (``MySQLdb``) reads and converts result rows in C: a range read of 100
records costs it about a tenth of PyMySQL's instructions, and the server's GET of 100
records two fifths fewer than on PyMySQL (``python -m loadtest.hotpath --instructions
--driver mysqlclient``; under load on the benchmark machine no more throughput, as
docs/benchmarks.md shows).  Like PyMySQL it sends parameters as literals in the statement
text, through :meth:`Connection.literal` for each value.  Its own runs a chain of type
tests and an encoder lookup per value, and escapes strings with the C library's
``mysql_real_escape_string``, which tests every byte against the character set; a
record's payload is 500 bytes of JSON.  Here strings are quoted as
:func:`syncstorage.infra.mysqlconn.quote` quotes them for PyMySQL (the backslash, the
quote and NUL escaped with ``str.replace``; under ``NO_BACKSLASH_ESCAPES``, which the
connection reads from its session once it is open, only the quote doubled), integers
and NULL are written directly, and everything else is mysqlclient's own.

Its cursors split a multi-row INSERT at 64 KB; a POST of 100 records of 500 bytes is
~70 KB, so :class:`Cursor` splits where PyMySQL does (1,024,000 bytes) instead (one statement,
one round trip; the server's ``max_allowed_packet`` is 16 MB and more).

Timeouts are the C library's, in whole seconds (dbengine rounds up): a read or write that
outlasts them fails as a lost connection (2013), as with PyMySQL.
"""
from __future__ import annotations

import MySQLdb.connections
import MySQLdb.cursors
import pymysql.cursors

from syncstorage.infra.mysqlconn import quote

# bytes of one multi-row INSERT: PyMySQL's executemany limit, so that both drivers send a
# POST's rows alike
MAX_STATEMENT = pymysql.cursors.Cursor.max_stmt_length


class Cursor(MySQLdb.cursors.Cursor):
    """mysqlclient's buffered cursor, joining a multi-row INSERT up to :data:`MAX_STATEMENT`."""
    max_stmt_length = MAX_STATEMENT


class Connection(MySQLdb.connections.Connection):
    """mysqlclient's connection with :class:`Cursor` and a cheaper :meth:`literal`."""

    default_cursor = Cursor

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # connects
        self.query(b"SELECT @@SESSION.sql_mode")
        (mode,), = self.store_result().fetch_row()
        if isinstance(mode, bytes):
            mode = mode.decode()
        self.backslash_escapes = "NO_BACKSLASH_ESCAPES" not in (mode or "").upper()

    def literal(self, o) -> bytes:
        """``o`` as an SQL literal (bytes) that reads back as ``o``."""
        kind = type(o)
        if kind is str:
            return quote(o, self.backslash_escapes).encode(self.encoding)
        if kind is int:  # not bool: mysqlclient writes True as 1 through its encoders
            return b"%d" % o
        if o is None:
            return b"NULL"
        return super().literal(o)
