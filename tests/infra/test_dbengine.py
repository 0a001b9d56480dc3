"""The MySQL engine's pool: a busy connection is used without a ping, an idle one is
pinged first and replaced when the server dropped it."""
import pytest
import sqlalchemy as sa

from syncstorage.infra.dbengine import BackendError, create_engine, run_in_transaction


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _connection_id(engine) -> int:
    return run_in_transaction(engine, lambda conn: conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar())


def _drop_from_the_server(mariadb, connection_id: int) -> None:
    """What a restarted server or a failed-over address leaves in the pool: a dead connection."""
    with mariadb.root_connection() as conn, conn.cursor() as cur:
        cur.execute("KILL CONNECTION %s", (connection_id,))


@pytest.fixture
def pooled(mariadb, monkeypatch):
    """(engine with one pooled connection and an injected clock, the clock, its ping count)."""
    clock = Clock()
    engine = create_engine(mariadb.create_database("dbengine_pool"), pool_size=1, max_overflow=0, clock=clock)
    pings = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or real(conn))
    yield engine, clock, pings
    engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(pooled):
    engine, clock, pings = pooled
    first = _connection_id(engine)
    for _ in range(5):
        clock.now += 0.5
        assert _connection_id(engine) == first
    assert pings == []


def test_a_lightly_loaded_pool_keeps_using_its_last_connection(mariadb, monkeypatch):
    """Requests now and then, after a burst opened several connections: each takes the
    connection returned last (still warm, never idle long enough to be pinged), not the
    one idle the longest, which a FIFO pool would hand out and ping every time."""
    clock = Clock()
    engine = create_engine(mariadb.create_database("dbengine_lifo"), pool_size=3, max_overflow=0, clock=clock)
    pings = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or real(conn))
    try:
        burst = [engine.connect() for _ in range(3)]
        ids = [conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar() for conn in burst]
        for conn in burst:
            conn.close()
        used = set()
        for _ in range(6):
            clock.now += 0.6  # under the ping interval for one connection, over it for three in turn
            used.add(_connection_id(engine))
        assert used == {ids[-1]} and pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_dropped_by_the_server_is_replaced_before_use(pooled, mariadb):
    engine, clock, pings = pooled
    first = _connection_id(engine)
    _drop_from_the_server(mariadb, first)
    clock.now += 5  # idle for longer than the ping interval
    assert _connection_id(engine) != first  # no error reached the request
    assert pings == [1]


def test_a_dead_connection_used_without_ping_fails_once_then_the_pool_renews(pooled, mariadb):
    """Within the interval the request meets the dead connection: 503 for it (BackendError),
    and the pool connects anew for the next one."""
    engine, clock, _pings = pooled
    first = _connection_id(engine)
    _drop_from_the_server(mariadb, first)
    with pytest.raises(BackendError):
        _connection_id(engine)
    assert _connection_id(engine) != first


def test_sqlite_engines_are_unchanged(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert run_in_transaction(engine, lambda conn: conn.execute(sa.text("SELECT 1")).scalar()) == 1


def _rollbacks(engine) -> int:
    """ROLLBACKs this (only) pooled connection has received, by the server's count."""
    return int(run_in_transaction(engine, lambda conn: conn.exec_driver_sql(
        "SHOW SESSION STATUS LIKE 'Com_rollback'").one()[1]))


def test_a_committed_transaction_is_not_rolled_back_again_on_return(pooled):
    engine, _clock, _pings = pooled
    before = _rollbacks(engine)
    for _ in range(5):
        run_in_transaction(engine, lambda conn: conn.exec_driver_sql("SELECT 1").scalar(), write=True)
    assert _rollbacks(engine) == before  # a round trip per request saved


def test_a_failed_transaction_is_rolled_back(pooled):
    engine, _clock, _pings = pooled
    before = _rollbacks(engine)
    with pytest.raises(ZeroDivisionError):
        run_in_transaction(engine, lambda conn: conn.exec_driver_sql("SELECT 1").scalar() / 0)
    assert _rollbacks(engine) > before


def test_a_connection_returned_mid_transaction_releases_its_locks(pooled, mariadb):
    """A connection used outside run_in_transaction, left in a transaction holding a row
    lock, is rolled back when it returns to the pool: the lock does not outlive it."""
    engine, _clock, _pings = pooled
    run_in_transaction(engine, lambda conn: (
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS locks (id INT PRIMARY KEY)"),
        conn.exec_driver_sql("INSERT IGNORE INTO locks VALUES (1)")), write=True)
    raw = engine.raw_connection()
    cursor = raw.cursor()
    cursor.execute("SELECT id FROM locks WHERE id = 1 FOR UPDATE")
    cursor.fetchall()
    raw.close()  # back to the pool without commit or rollback
    other = create_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        def lock(conn):
            conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
            return conn.exec_driver_sql("SELECT id FROM locks WHERE id = 1 FOR UPDATE").scalar()
        assert run_in_transaction(other, lock) == 1
    finally:
        other.dispose()
