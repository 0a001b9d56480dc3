"""The PyMySQL connection the MySQL engine opens: PyMySQL's, with a cheaper literal for strings.

PyMySQL sends parameters as literals in the statement text.  For a ``str`` it
escapes seven characters through ``str.translate`` with a table, which CPython
runs character by character once the string holds any of them: a record's
payload is JSON, full of double quotes, so escaping one 600-byte payload took
~28 µs, ~3 ms of every POST of 100 records.  MySQL needs only the backslash and
the enclosing quote escaped (MySQL C API manual, mysql_real_escape_string_quote;
MariaDB "String Literals"); the others are escaped for the readability of logs.
:meth:`Connection.escape` therefore escapes ``\\``, ``'`` and NUL with
``str.replace`` (a memchr-speed scan per character class: ~0.8 µs for that
payload), and only ``'`` under ``NO_BACKSLASH_ESCAPES``, as PyMySQL does.
The connection's character set is utf8mb4 (dbengine.py), in which no byte of a
multi-byte character is a quote or a backslash.  Integers and NULL skip
PyMySQL's encoder lookup; every other type is PyMySQL's own.
"""
from __future__ import annotations

import pymysql.connections
from pymysql.constants import SERVER_STATUS

_NO_BACKSLASH_ESCAPES = SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES


def quote(text: str, backslash_escapes: bool = True) -> str:
    """``text`` as a single-quoted MySQL string literal that reads back as ``text``."""
    if backslash_escapes:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") + "'"
    return "'" + text.replace("'", "''") + "'"


class Connection(pymysql.connections.Connection):
    """PyMySQL's connection; :meth:`escape` (what its cursors call for every parameter)
    writes strings, integers and NULL directly."""

    def escape(self, obj, mapping=None) -> str:
        kind = type(obj)
        if kind is str:
            return quote(obj, not self.server_status & _NO_BACKSLASH_ESCAPES)
        if kind is int:  # not bool: PyMySQL writes True as 1 through its encoders
            return str(obj)
        if obj is None:
            return "NULL"
        return super().escape(obj, mapping)
