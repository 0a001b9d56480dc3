"""The MySQL engine's connection writes strings as literals that MariaDB reads back
exactly, whatever they hold, with and without backslash escapes."""
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
