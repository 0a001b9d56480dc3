"""The C driver's connection (mysqlclient) writes literals that MariaDB reads back exactly,
with and without backslash escapes, sends a POST's rows as one statement, and keeps the
engine's timeouts."""
import pytest
import sqlalchemy as sa

from syncstorage.infra.dbengine import create_engine, run_in_transaction

from ..conftest import with_c_driver
from .test_mysqlconn import HOSTILE, read_past_read_timeout

NO_BACKSLASH = "init_command=SET SESSION sql_mode='NO_BACKSLASH_ESCAPES'"


@pytest.fixture(scope="module")
def url(mariadb):
    return with_c_driver(mariadb.create_database("mysqlclient"))


@pytest.fixture(scope="module")
def engine(url):
    engine = create_engine(url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _read_back(engine, values):
    marks = ", ".join(["%s"] * len(values))
    return list(run_in_transaction(engine, lambda conn: conn.exec_driver_sql(f"SELECT {marks}", tuple(values)).one()))


def test_the_engine_opens_the_cheaper_connection(engine):
    from syncstorage.infra import mysqlclient

    with engine.connect() as conn:
        ours = conn.connection.dbapi_connection
        assert type(ours) is mysqlclient.Connection and ours.backslash_escapes
        assert type(ours.cursor()) is mysqlclient.Cursor


def test_hostile_strings_read_back_as_sent(engine):
    assert _read_back(engine, HOSTILE) == HOSTILE


def test_hostile_strings_read_back_as_sent_without_backslash_escapes(url):
    """A session under NO_BACKSLASH_ESCAPES (a DBA's global sql_mode) is read when the
    connection opens: a backslash is then an ordinary character."""
    engine = create_engine(f"{url}?{NO_BACKSLASH}", pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            assert not conn.connection.dbapi_connection.backslash_escapes
        assert _read_back(engine, HOSTILE) == HOSTILE
    finally:
        engine.dispose()


def test_other_types_keep_mysqlclients_literals(engine, url):
    values = [0, -1, 2**63 - 1, None, 1.5, b"\x00'\\", True, "\u00e9'"]
    stock = sa.create_engine(url, poolclass=sa.pool.NullPool)  # mysqlclient's own connection
    try:
        with stock.connect() as conn:
            expected = list(conn.exec_driver_sql(f"SELECT {', '.join(['%s'] * len(values))}", tuple(values)).one())
    finally:
        stock.dispose()
    assert _read_back(engine, values) == expected
    assert expected[:5] == values[:5] and expected[6] == 1


def test_a_posts_rows_go_as_one_statement(engine):
    """100 rows of 700 bytes (~70 KB) are one INSERT, not two (mysqlclient's own cursor
    splits at 64 KB)."""
    rows = [(i, "x" * 700) for i in range(100)]

    def inserts(conn) -> int:
        return int(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_insert'").one()[1])

    def work(conn):
        conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS wide (id INT PRIMARY KEY, v TEXT)")
        before = inserts(conn)
        conn.exec_driver_sql("INSERT INTO wide (id, v) VALUES (%s, %s)", rows)
        return inserts(conn) - before, conn.exec_driver_sql("SELECT COUNT(*) FROM wide").scalar()

    assert run_in_transaction(engine, work, write=True) == (1, 100)


def test_a_read_past_read_timeout_fails_as_a_lost_connection_and_the_engine_goes_on(url):
    read_past_read_timeout(url, "2013")  # read_timeout given as a float: dbengine makes it whole seconds
