"""The MySQL engine's connection writes strings as literals that MariaDB reads back
exactly, whatever they hold, with and without backslash escapes."""
import io

import pymysql
import pytest

from syncstorage.infra import mysqlconn
from syncstorage.infra.dbengine import create_engine, run_in_transaction

HOSTILE = [
    "", "'", "''", "\\", "\\'", "'\\", "x\\", "\\\\'", "a'; DROP TABLE wbo0; --", "' OR '1'='1",
    '"', '{"ciphertext": "AbC+/=", "IV": "x", "hmac": "y"}', "%s", "%%s", "?", "\0", "a\0b'\0",
    "\n\r\x1a\t\b", "\\0", "\\n", "\\Z", "`", "\u00e9\u4e2d\U0001F600'\\", "\U0001F600\\'",
    "\u5c5c'",  # a character whose UTF-8 bytes hold none of 0x5c or 0x27, next to a quote
    "\x7f\x1f", "\\" * 7 + "'" * 3,
]


@pytest.fixture(scope="module")
def engine(mariadb):
    engine = create_engine(mariadb.create_database("mysqlconn"), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _read_back(engine, values, sql_mode=None):
    def work(conn):
        if sql_mode is not None:
            conn.exec_driver_sql(f"SET SESSION sql_mode = '{sql_mode}'")
        try:
            marks = ", ".join(["%s"] * len(values))
            return list(conn.exec_driver_sql(f"SELECT {marks}", tuple(values)).one())
        finally:
            if sql_mode is not None:
                conn.exec_driver_sql("SET SESSION sql_mode = DEFAULT")
    return run_in_transaction(engine, work)


def test_the_engine_opens_the_cheaper_connection(engine):
    with engine.connect() as conn:
        assert type(conn.connection.dbapi_connection) is mysqlconn.Connection


@pytest.mark.parametrize("sql_mode", [None, "NO_BACKSLASH_ESCAPES"])
def test_hostile_strings_read_back_as_sent(engine, sql_mode):
    assert _read_back(engine, HOSTILE, sql_mode) == HOSTILE


def test_other_types_keep_pymysql_literals(engine):
    values = [0, -1, 2**63 - 1, None, 1.5, b"\x00'\\", True]
    assert _read_back(engine, values) == [0, -1, 2**63 - 1, None, 1.5, b"\x00'\\", 1]


def test_quote_escapes_only_what_the_literal_needs():
    assert mysqlconn.quote('{"a": "b\'c"}') == "'{\"a\": \"b\\'c\"}'"
    assert mysqlconn.quote("a\\b\0") == "'a\\\\b\\0'"
    assert mysqlconn.quote("a'\\", backslash_escapes=False) == "'a''\\'"


def test_rows_read_as_pymysql_reads_them(engine, mariadb):
    """Every column type the server reads, NULLs, long values (2- and 3-byte lengths), and
    rows of a real table: the same values as PyMySQL's own reading."""
    sql = ("SELECT 1, -9223372036854775808, 18446744073709551615, NULL, 'a''b', CONVERT(_binary'\\\\x' USING utf8mb4), "
           "_binary'\\0\\xff', 1.5e300, 12.345, CAST('2024-01-02 03:04:05' AS DATETIME), CAST('2024-01-02' AS DATE), "
           "REPEAT('y', 300), REPEAT('z', 70000), '\u00e9\U0001F600', CAST(NULL AS SIGNED) "
           "UNION ALL SELECT 2, 0, 0, 'n', '', '', _binary'', 0, 0, NULL, NULL, '', '', '', 7")
    ours = _read_back_rows(engine, sql)
    url = engine.url
    stock = pymysql.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                            database=url.database, charset="utf8mb4")
    try:
        with stock.cursor() as cur:
            cur.execute(sql)
            assert ours == list(cur.fetchall())
    finally:
        stock.close()
    assert ours[0][3] is None and ours[0][14] is None and len(ours[0][12]) == 70000


def test_descriptors_parsed_once_per_shape_read_as_pymysql_reads_them(engine):
    """Statements of different column types under the same names, each run twice on one
    connection: every result is what PyMySQL reads, and each shape is parsed once."""
    shapes = ["SELECT 1 AS a, 'x' AS b", "SELECT 'x' AS a, 1 AS b", "SELECT _binary'\\xff' AS a, 2.5 AS b",
              "SELECT CAST('2024-01-02' AS DATE) AS a, NULL AS b"]
    url = engine.url
    stock = pymysql.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                            database=url.database, charset="utf8mb4")
    with engine.connect() as conn:
        ours = conn.connection.dbapi_connection
        ours.descriptions.clear()
        for _ in range(2):
            for sql in shapes:
                with ours.cursor() as mine, stock.cursor() as theirs:
                    mine.execute(sql)
                    theirs.execute(sql)
                    assert mine.fetchall() == theirs.fetchall()
                    assert mine.description == theirs.description
        conn.rollback()
        assert len(ours.descriptions) == len(shapes)
    stock.close()


def _read_back_rows(engine, sql):
    return run_in_transaction(engine, lambda conn: [tuple(row) for row in conn.exec_driver_sql(sql).all()])


@pytest.mark.parametrize("data, expected", [
    (b"\x01a\xfb\x00", (b"a", None, b"")),
    (b"\xfc\x03\x00abc\xfd\x01\x00\x00d\xfe\x02\x00\x00\x00\x00\x00\x00\x00ef", (b"abc", b"d", b"ef")),
    (b"\x01a", (b"a",)),  # fewer fields than columns: the row ends, as PyMySQL's does
])
def test_parse_row_reads_every_length_encoding(data, expected):
    assert mysqlconn.parse_row(data, [None, None, None]) == expected


def test_parse_row_converts_as_told():
    decoders = [mysqlconn._decoder("ascii", int), mysqlconn._decoder("utf8", None), mysqlconn._decoder(None, None)]
    assert mysqlconn.parse_row(b"\x02-7\x02\xc3\xa9\x01\xff", decoders) == (-7, "\u00e9", b"\xff")


def test_an_error_in_the_middle_of_the_rows_raises_and_the_connection_goes_on(engine):
    """MariaDB sends 79 rows of 1 KB, then an error packet (the subquery of row 80 returns
    two rows): the error reaches the caller as PyMySQL's, and the connection stays usable."""
    import sqlalchemy as sa

    failing = ("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_100 t "
               "WHERE IF(seq = 80, (SELECT s.seq FROM seq_1_to_2 s WHERE s.seq < t.seq), 1)")
    with engine.connect() as conn:
        with pytest.raises(sa.exc.OperationalError, match="1242"):
            conn.exec_driver_sql(failing).all()
        conn.rollback()
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM seq_1_to_100").scalar() == 100
        assert len(conn.exec_driver_sql("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_200").all()) == 200


class _Wire:
    """A connection's side of the socket: packets as MariaDB frames them."""

    encoding = "utf8mb4"

    def __init__(self, payloads, first_seq=1, sequence=None, buffer_size=io.DEFAULT_BUFFER_SIZE, after=b""):
        stream = b"".join(len(p).to_bytes(3, "little") + bytes([seq % 256]) + p
                          for seq, p in zip(sequence or range(first_seq, first_seq + len(payloads)), payloads))
        # as PyMySQL's socket file: buffered, each raw read returning what one recv would
        self._rfile = io.BufferedReader(_Chunks(stream + after, 1000), buffer_size)
        self._next_seq_id, self.closed = first_seq, False

    def _read_bytes(self, n):
        return self._rfile.read(n)

    @property
    def stream(self):
        """What is left unread."""
        return self._rfile.peek() if self._rfile.peek() else b""

    def _force_close(self):
        self.closed = True


class _Chunks(io.RawIOBase):
    """A socket's bytes, arriving ``chunk`` at a time."""

    def __init__(self, data, chunk):
        self.data, self.chunk = data, chunk

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.chunk, len(self.data))
        buffer[:n], self.data = self.data[:n], self.data[n:]
        return n


EOF_PACKET = b"\xfe\x00\x00\x02\x00"


def _packets(wire):
    return list(mysqlconn.Result(wire)._row_packets())


def test_row_packets_end_at_eof_and_join_packets_of_16_mb():
    big = b"\xfe" + b"a" * (mysqlconn.MAX_PACKET_LEN - 1)
    wire = _Wire([b"\x01x", big, b"tail", b"\x01y", EOF_PACKET])
    assert _packets(wire) == [b"\x01x", big + b"tail", b"\x01y"]
    assert wire._next_seq_id == 6 and wire.stream == b""


@pytest.mark.parametrize("buffer_size", [7, 64, 1000, 8192])
def test_row_packets_read_alike_however_the_buffer_splits_them(buffer_size):
    rows = [bytes([n % 200 + 1]) + bytes([n % 256]) * (n % 200 + 1) for n in range(300)]
    rows.append(b"\xfe" + b"r" * 8)  # a row (9 bytes) that starts like an EOF packet
    wire = _Wire(rows + [EOF_PACKET], buffer_size=buffer_size, after=b"NEXT")
    assert _packets(wire) == rows
    assert wire._next_seq_id == (len(rows) + 2) % 256 and wire._rfile.read() == b"NEXT"  # the next result's


def test_a_packet_out_of_sequence_closes_the_connection():
    wire = _Wire([b"\x01x", b"\x01y"], sequence=[1, 3])
    with pytest.raises(pymysql.err.InternalError, match="got 3 expected 2"):
        _packets(wire)
    assert wire.closed
    wire = _Wire([b"\x01x", b"\xff\x00\x00"], sequence=[1, 0])  # MariaDB shutting down
    with pytest.raises(pymysql.err.OperationalError, match="Lost connection"):
        _packets(wire)


def test_an_error_packet_raises_the_servers_error():
    error = b"\xff" + (1242).to_bytes(2, "little") + b"#21000Subquery returns more than 1 row"
    with pytest.raises(pymysql.err.OperationalError, match="Subquery returns"):
        _packets(_Wire([b"\x01x", error]))


# -- the socket waits in the kernel ----------------------------------------------------
def test_connections_wait_in_the_kernel_with_the_engines_timeouts(mariadb):
    """No Python timeout (a poll before every read and write): the kernel's, as configured."""
    import socket

    engine = create_engine(mariadb.create_database("mysqlconn_kernel"), pool_size=1, max_overflow=0,
                           read_timeout=7.5)
    try:
        with engine.connect() as conn:
            ours = conn.connection.dbapi_connection
            sock = ours._sock
            assert ours.waits_in_kernel and sock.gettimeout() is None
            size = len(mysqlconn.timeval(1))
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, size) == mysqlconn.timeval(7.5)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, size) == mysqlconn.timeval(7.5)
            assert conn.exec_driver_sql("SELECT REPEAT('x', 200000)").scalar() == "x" * 200000
    finally:
        engine.dispose()


def test_timeval_is_what_the_kernel_takes():
    import struct

    assert mysqlconn.timeval(None) == mysqlconn.timeval(0) == struct.pack("@ll", 0, 0)  # no timeout
    assert mysqlconn.timeval(60) == struct.pack("@ll", 60, 0)
    assert mysqlconn.timeval(2.25) == struct.pack("@ll", 2, 250000)
    assert mysqlconn.timeval(1e-9) == struct.pack("@ll", 0, 1)  # a timeout, however short


def read_past_read_timeout(url: str, match: str) -> None:
    """A statement outlasting read_timeout (1 s) fails as ``match`` within 4 s, and the
    engine's next transaction succeeds."""
    import time

    import sqlalchemy as sa

    engine = create_engine(url, read_timeout=1)
    try:
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match=match):
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT SLEEP(5)")
        assert time.monotonic() - started < 4
        assert run_in_transaction(engine, lambda conn: conn.exec_driver_sql("SELECT 1").scalar()) == 1
    finally:
        engine.dispose()


def test_a_read_past_read_timeout_fails_as_pymysql_reports_it_and_the_engine_goes_on(mariadb):
    read_past_read_timeout(mariadb.create_database("mysqlconn_timeout"), "2013.*timed out")


def test_a_write_to_a_stuck_server_fails_after_write_timeout(own_mariadb):
    """A frozen server (SIGSTOP) stops reading: once the socket buffers are full, a statement
    longer than they hold fails after write_timeout, as a server gone away."""
    import time

    import sqlalchemy as sa

    engine = create_engine(own_mariadb.create_database("stuck"), read_timeout=1, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        ours = conn.connection.dbapi_connection
        own_mariadb.pause()
        try:
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="2006"):
                conn.exec_driver_sql("SELECT %s", ("x" * 64_000_000,))
            assert time.monotonic() - started < 10 and ours._sock is None  # closed
        finally:
            own_mariadb.resume()
    engine.dispose()


def test_a_closed_connection_releases_its_socket(engine):
    """PyMySQL's own reader held a reference to the socket: with it replaced, closing the
    connection still closes the descriptor (a socket with readers open only closes once
    they are)."""
    with engine.connect() as conn:
        ours = conn.connection.dbapi_connection  # kept alive, with whatever it holds
        sock = ours._sock
        assert sock.fileno() >= 0
        conn.invalidate()  # the pool closes the DBAPI connection
    assert sock.fileno() == -1 and ours._sock is None


@pytest.mark.services
def test_a_tls_connection_keeps_pymysqls_socket_and_its_timeouts(tmp_path):
    """Over TLS the socket is an SSLSocket, whose reads the kernel-timed reader cannot replace:
    the connection keeps PyMySQL's socket and Python timeout, reads as usual, and a read past
    read_timeout still fails as a timed-out read."""
    import shutil
    import ssl
    import subprocess
    import time

    import sqlalchemy as sa
    from loadtest.services import MariaDB

    from ..conftest import REQUIRE_SERVICES, start_service

    if shutil.which("openssl") is None:
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)("openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    server = start_service(lambda: MariaDB(extra_args=(f"--ssl-cert={cert}", f"--ssl-key={key}")))
    try:
        url = server.create_database("tls") + f"?ssl_ca={cert}&ssl_check_hostname=false"
        engine = create_engine(url, read_timeout=1, pool_size=1, max_overflow=0)
        with engine.connect() as conn:
            ours = conn.connection.dbapi_connection
            assert isinstance(ours._sock, ssl.SSLSocket) and not ours.waits_in_kernel
            assert conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Ssl_cipher'").one()[1] != ""
            assert conn.exec_driver_sql("SELECT REPEAT('x', 200000)").scalar() == "x" * 200000
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="2013.*timed out"):
                conn.exec_driver_sql("SELECT SLEEP(5)")
            assert time.monotonic() - started < 4
        engine.dispose()
    finally:
        server.stop()
