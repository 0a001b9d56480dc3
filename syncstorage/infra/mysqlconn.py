"""The PyMySQL connection the MySQL engine opens: PyMySQL's, with cheaper string literals
and a cheaper reading of result rows.

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

Reading a result, PyMySQL parses each field of each row through four method
calls on a packet object; a GET of 100 records is 600 fields, and that parsing
was most of what PyMySQL costs it.  :class:`Result` parses a row's fields in
one loop over the packet's bytes, with the conversions PyMySQL chose for the
columns (and ``int`` straight from the digits), and reads the row packets
without building a packet object for each (PyMySQL's socket reads, and its
handling of sequence numbers, server errors and rows over 16 MB).  Unbuffered
results are PyMySQL's own.

Both lean on PyMySQL internals (``_read_query_result``, ``_read_bytes``,
``_next_seq_id``, ``MySQLResult.converters``), so setup.py admits PyMySQL 1.2.x
only; tests/infra/test_mysqlconn.py compares what this connection reads and
writes with PyMySQL's own, and is the check to run before widening that.
"""
from __future__ import annotations

import pymysql.connections
import pymysql.err
from pymysql.constants import CR, SERVER_STATUS
from pymysql.protocol import MysqlPacket

MAX_PACKET_LEN = 2**24 - 1
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

    def _read_query_result(self, unbuffered=False):
        """PyMySQL's, with :class:`Result` for buffered results."""
        if unbuffered:
            return super()._read_query_result(unbuffered)
        self._result = None
        result = Result(self)
        result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return result.affected_rows


class Result(pymysql.connections.MySQLResult):
    """A buffered result whose row packets are read by :meth:`_row_packets` and parsed by
    :func:`parse_row`."""

    def _read_rowdata_packet(self):
        decoders = [_decoder(encoding, converter) for encoding, converter in self.converters]
        rows = [parse_row(data, decoders) for data in self._row_packets()]
        self.connection = None
        self.affected_rows = len(rows)
        self.rows = tuple(rows)

    def _row_packets(self):
        """The payloads of the row packets up to the EOF packet: PyMySQL's ``_read_packet``
        without a packet object per row.  Socket errors, timeouts and short reads are its
        ``_read_bytes``'s; a packet out of sequence, a server error and rows over 16 MB
        are handled as it handles them."""
        conn = self.connection
        while True:
            size, data = _read_payload(conn)
            while size == MAX_PACKET_LEN:  # the payload continues in the next packet
                size, more = _read_payload(conn)
                data += more
            first = data[0]
            if first == 0xFE and len(data) < 9:  # EOF (a row starting 0xFE is at least 9 bytes long)
                packet = MysqlPacket(data, conn.encoding)
                if self._check_packet_is_eof(packet):
                    return
            elif first == 0xFF:
                MysqlPacket(data, conn.encoding).raise_for_error()
            yield data


def _read_payload(conn) -> tuple[int, bytes]:
    """One packet's payload size and payload, its sequence number checked as PyMySQL does."""
    header = conn._read_bytes(4)
    size = header[0] | header[1] << 8 | header[2] << 16
    if header[3] != conn._next_seq_id:
        conn._force_close()
        if header[3] == 0:  # MariaDB sends an error with sequence 0 when shutting down
            raise pymysql.err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")
        raise pymysql.err.InternalError(f"Packet sequence number wrong - got {header[3]} expected {conn._next_seq_id}")
    conn._next_seq_id = (conn._next_seq_id + 1) % 256
    return size, conn._read_bytes(size)


def _decoder(encoding, converter):
    """What turns a field's bytes into its value, as PyMySQL's (encoding, converter) would."""
    if converter is int and encoding in ("ascii", None):
        return int  # int() reads ASCII digits from bytes as they are
    if converter is None:
        return None if encoding is None else (lambda raw: raw.decode(encoding))
    if encoding is None:
        return converter
    return lambda raw: converter(raw.decode(encoding))


def parse_row(data: bytes, decoders) -> tuple:
    """The fields of one text-protocol row: each a length-encoded string, or NULL (0xFB).
    A row shorter than its columns ends early, as PyMySQL's does."""
    row = []
    pos, end = 0, len(data)
    for decode in decoders:
        if pos >= end:
            break
        size = data[pos]
        if size < 251:
            pos += 1
        elif size == 251:
            row.append(None)
            pos += 1
            continue
        elif size == 252:
            size = data[pos + 1] | data[pos + 2] << 8
            pos += 3
        elif size == 253:
            size = data[pos + 1] | data[pos + 2] << 8 | data[pos + 3] << 16
            pos += 4
        else:
            size = int.from_bytes(data[pos + 1:pos + 9], "little")
            pos += 9
        raw = data[pos:pos + size]
        pos += size
        row.append(raw if decode is None else decode(raw))
    return tuple(row)
