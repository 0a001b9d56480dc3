"""The PyMySQL connection the MySQL engine opens: PyMySQL's, with cheaper string literals,
a cheaper reading of result rows, and a socket that waits in the kernel.

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
without building a packet object for each, taking the whole packets the read
buffer holds at once (PyMySQL's socket reads, and its handling of sequence
numbers, server errors and rows over 16 MB).  The column descriptors of a
result are parsed by PyMySQL once per connection and statement shape.
Unbuffered results are PyMySQL's own.

The socket waits in the kernel.  PyMySQL gives its socket Python's timeout, so every
read (and every write) first polls the socket, and reads through an 8 KB buffer: the two
statements of a GET of 100 records (the range read, the COMMIT) took 19 system calls,
ten of them polls.  Once connected, :class:`Connection` puts the socket in blocking mode
with the same timeouts as the kernel's SO_RCVTIMEO and SO_SNDTIMEO, and reads through a
64 KB buffer: four calls, more when the rows arrive in parts (``python -m
loadtest.hotpath --syscalls``).  A read that outlasts ``read_timeout`` still fails as
PyMySQL reports a timed-out read (CR_SERVER_LOST, "timed out"), a write that outlasts
``write_timeout`` as a failed write (CR_SERVER_GONE_ERROR); the kernel counts the write
timeout per ``send`` rather than per statement.  TLS connections keep PyMySQL's socket
as it is.

All of this leans on PyMySQL internals (``_read_query_result``, ``_read_bytes``, ``_rfile``,
``_next_seq_id``, ``_sock``, ``_write_bytes``, ``_current_timeout``,
``MySQLResult.converters``, ``_get_descriptions``), so setup.py admits PyMySQL 1.2.x
only; tests/infra/test_mysqlconn.py compares what this connection reads and
writes with PyMySQL's own, and is the check to run before widening that.
"""
from __future__ import annotations

import errno
import io
import socket
import struct

import pymysql.connections
import pymysql.err
from pymysql.constants import CR, SERVER_STATUS
from pymysql.protocol import MysqlPacket

MAX_PACKET_LEN = 2**24 - 1
READ_BUFFER = 64 * 1024  # a GET of 100 records is ~60 KB of rows
_NO_BACKSLASH_ESCAPES = SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES


def quote(text: str, backslash_escapes: bool = True) -> str:
    """``text`` as a single-quoted MySQL string literal that reads back as ``text``."""
    if backslash_escapes:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") + "'"
    return "'" + text.replace("'", "''") + "'"


class Connection(pymysql.connections.Connection):
    """PyMySQL's connection; :meth:`escape` (what its cursors call for every parameter)
    writes strings, integers and NULL directly."""

    def __init__(self, *args, **kwargs):
        # (descriptor packets, encoding) -> (fields, converters, description): Result's
        self.descriptions: dict = {}
        self.waits_in_kernel = False  # until connect() has set the socket up
        super().__init__(*args, **kwargs)  # connects, and may run statements already

    def connect(self, sock=None):
        """PyMySQL's, then the socket set to wait in the kernel (module docstring)."""
        self.waits_in_kernel = False
        super().connect(sock)
        sock = self._sock
        if type(sock) is not socket.socket:  # TLS (an SSLSocket): PyMySQL's reads and writes
            return
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(self._read_timeout))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(self._write_timeout))
        self._current_timeout = self._read_timeout  # PyMySQL's reads then never reset the timeout
        # PyMySQL's reader is empty (connect() read every answer) and holds a reference
        # that would keep the descriptor open past close(): released here.
        previous, self._rfile = self._rfile, io.BufferedReader(_KernelTimedReader(sock), READ_BUFFER)
        previous.close()
        self.waits_in_kernel = True

    def _write_bytes(self, data):
        """PyMySQL's, without setting a Python timeout on a socket that waits in the kernel."""
        if not self.waits_in_kernel:
            return super()._write_bytes(data)
        try:
            self._sock.sendall(data)
        except OSError as error:  # a timed-out send is EAGAIN, an OSError too
            self._force_close()
            raise pymysql.err.OperationalError(CR.CR_SERVER_GONE_ERROR,
                                               f"MySQL server has gone away ({error!r})") from error

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

    def _get_descriptions(self):
        """PyMySQL's, parsing each distinct list of column descriptors once per connection:
        a query's descriptors are the same bytes every time it runs, and parsing them
        (names, types, character sets) cost a GET of 100 records as much as its commit."""
        conn = self.connection
        packets = _payloads(conn, self.field_count + 1)  # the descriptors and their EOF packet
        key = (packets, conn.encoding)
        known = conn.descriptions.get(key)
        if known is None:
            self.connection = _Replay(conn, packets)
            try:
                super()._get_descriptions()
            finally:
                self.connection = conn
            known = (tuple(self.fields), tuple(self.converters), self.description)
            if len(conn.descriptions) >= MAX_DESCRIPTIONS:
                conn.descriptions.clear()
            conn.descriptions[key] = known
        self.fields, self.converters, self.description = list(known[0]), list(known[1]), known[2]

    def _row_packets(self):
        """The payloads of the row packets up to the EOF packet: PyMySQL's ``_read_packet``
        without a packet object per row, and without two reads per packet for the packets
        already in the connection's read buffer (:func:`_buffered_payloads`).  Socket
        errors, timeouts and short reads are its ``_read_bytes``'s; a packet out of
        sequence, a server error and rows over 16 MB are handled as it handles them."""
        conn = self.connection
        while True:
            payloads = _buffered_payloads(conn) or [_whole_payload(conn)]  # else: not all in the buffer
            for payload in payloads:
                first = payload[0]
                if first == 0xFE and len(payload) < 9:  # EOF (a row starting 0xFE is at least 9 bytes long)
                    packet = MysqlPacket(payload, conn.encoding)
                    if self._check_packet_is_eof(packet):
                        return
                elif first == 0xFF:
                    MysqlPacket(payload, conn.encoding).raise_for_error()
                yield payload


def timeval(seconds: float | None) -> bytes:
    """``seconds`` as the ``struct timeval`` SO_RCVTIMEO and SO_SNDTIMEO take; None (wait
    for ever) is zero, and a positive timeout is at least a microsecond (zero would be none)."""
    if not seconds:
        return struct.pack("@ll", 0, 0)
    micros = max(1, round(seconds * 1_000_000))
    return struct.pack("@ll", micros // 1_000_000, micros % 1_000_000)


class _KernelTimedReader(io.RawIOBase):
    """The raw stream under the read buffer of a socket that waits in the kernel: ``recv_into``
    straight away, no poll.  SO_RCVTIMEO expiring makes ``recv`` fail with EAGAIN, which is
    raised as the timeout it is (``socket.SocketIO`` would return None, which PyMySQL's
    reads do not expect)."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            return self._sock.recv_into(buffer)
        except BlockingIOError:
            raise TimeoutError("timed out") from None


MAX_DESCRIPTIONS = 256  # per connection: the server's statements have a few dozen shapes


class _Replay:
    """A connection whose next packets are ``payloads``, read already: what PyMySQL's
    ``_get_descriptions`` reads the descriptors from."""

    def __init__(self, conn, payloads):
        self.use_unicode, self.encoding, self.decoders = conn.use_unicode, conn.encoding, conn.decoders
        self._payloads = iter(payloads)

    def _read_packet(self, packet_type=MysqlPacket):
        data = next(self._payloads)
        if data[:1] == b"\xff":
            MysqlPacket(data, self.encoding).raise_for_error()
        return packet_type(data, self.encoding)


def _payloads(conn, count: int) -> tuple[bytes, ...]:
    """The payloads of the next ``count`` packets, however the read buffer holds them."""
    found: list[bytes] = []
    while len(found) < count:
        found += _buffered_payloads(conn, count - len(found)) or [_whole_payload(conn)]
    return tuple(found)


def _buffered_payloads(conn, limit: int = 1 << 30) -> list[bytes] | None:
    """The payloads of the whole packets at the front of the connection's read buffer,
    ``limit`` at most, taken from it (None, taking nothing, when the first is not whole
    or is part of a packet over 16 MB).  Packets up to the first that is not a row (EOF,
    error) at most: the bytes after it belong to what follows.  Sequence numbers are checked as
    :func:`_read_payload` checks them."""
    buffered = _peek(conn)
    payloads = []
    pos, end, seq = 0, len(buffered), conn._next_seq_id
    while pos + 4 <= end and len(payloads) < limit:
        size = buffered[pos] | buffered[pos + 1] << 8 | buffered[pos + 2] << 16
        start = pos + 4
        if start + size > end or size == MAX_PACKET_LEN:
            break
        if buffered[pos + 3] != seq:
            break  # _read_payload reports it
        payload = buffered[start:start + size]
        payloads.append(payload)
        seq = (seq + 1) % 256
        pos = start + size
        first = payload[0] if size else 0
        if first == 0xFF or (first == 0xFE and size < 9):
            break  # an error or EOF: what follows it is not this result's
    if not payloads:
        return None
    conn._rfile.read(pos)  # already buffered: no waiting
    conn._next_seq_id = seq
    return payloads


def _whole_payload(conn) -> bytes:
    """The next packet's payload, read from the socket as needed; one over 16 MB arrives
    in several packets, joined here."""
    size, data = _read_payload(conn)
    while size == MAX_PACKET_LEN:  # the payload continues in the next packet
        size, more = _read_payload(conn)
        data += more
    return data


def _peek(conn) -> bytes:
    """What the connection's read buffer holds, reading from the socket only when it is
    empty; errors as PyMySQL's ``_read_bytes`` reports them."""
    while True:
        try:
            return conn._rfile.peek()
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            conn._force_close()
            raise pymysql.err.OperationalError(CR.CR_SERVER_LOST,
                                               f"Lost connection to MySQL server during query ({error})") from error
        except BaseException:
            conn._force_close()
            raise


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
    """What turns a field's bytes into its value, as PyMySQL's (encoding, converter) would:
    None (the bytes), an encoding's name (the text), or a callable."""
    if converter is int and encoding in ("ascii", None):
        return int  # int() reads ASCII digits from bytes as they are
    if converter is None:
        return encoding  # parse_row decodes text itself: a lambda's frame per field costs more
    if encoding is None:
        return converter
    return lambda raw: converter(raw.decode(encoding))


def parse_row(data: bytes, decoders) -> tuple:
    """The fields of one text-protocol row: each a length-encoded string, or NULL (0xFB),
    turned into a value by its decoder (:func:`_decoder`).
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
        if decode is None:
            row.append(raw)
        elif type(decode) is str:
            row.append(raw.decode(decode))
        else:
            row.append(decode(raw))
    return tuple(row)
