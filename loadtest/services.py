"""Throwaway MariaDB and memcached servers on loopback, for tests and benchmarks.

Each server runs from the installed binaries with its own data directory in a
temporary folder and its own port, and is stopped (and its folder removed) by
:meth:`stop`.  Nothing here touches a system-wide service.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql
import pymysql.cursors


def freeze(pid: int) -> None:
    """SIGSTOP ``pid`` and return once every one of its threads has stopped: a thread running on
    another core finishes its time slice first, and could still answer a request sent meanwhile."""
    os.kill(pid, signal.SIGSTOP)

    def stopped() -> bool:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # the thread ended meanwhile
            if state not in ("T", "t"):
                return False
        return True
    wait_for(stopped, 10, interval=0.001, what=f"process {pid} to stop")


def create_account(cur, user: str, password: str, privileges: str, scope: str) -> None:
    """MariaDB account ``user`` for both loopback spellings, granted ``privileges`` ON ``scope``."""
    for host in ("127.0.0.1", "localhost"):
        cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT {privileges} ON {scope} TO '{user}'@'{host}'")


class ServiceUnavailable(RuntimeError):
    """The binaries for a service are not installed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find(*names: str) -> str | None:
    for name in names:
        for folder in (None, "/usr/sbin", "/usr/local/sbin", "/usr/bin"):
            found = shutil.which(name, path=folder) if folder else shutil.which(name)
            if found:
                return found
    return None


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a true value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # the service is still starting
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}: {last_error}")


# The MariaDB drivers a benchmark can run the server on: PyMySQL, or mysqlclient (C; setup.py's
# "mysqlclient" extra).  Raw-database baselines name theirs.
DRIVERS = {"pymysql": "mysql+pymysql://", "mysqlclient": "mysql+mysqldb://"}


def with_driver(url: str, driver: str) -> str:
    """MariaDB URL ``url`` through ``driver`` (a key of :data:`DRIVERS`)."""
    for prefix in DRIVERS.values():
        if url.startswith(prefix):
            return DRIVERS[driver] + url[len(prefix):]
    raise ValueError(f"not a MariaDB URL of a known driver: {url!r}")


class MariaDB:
    """A private mysqld with a ``sync`` account that may create databases."""

    USER, PASSWORD = "sync", "sync-test-password"

    def __init__(self, port: int | None = None, basedir: str | None = None, extra_args: tuple[str, ...] = (),
                 initialize: bool = True):
        self.extra_args = tuple(extra_args)  # server options (replication: log-bin, server-id, semi-sync)
        self.initialize = initialize  # else the data directory arrives by state transfer (Galera)
        self.mysqld = _find("mariadbd", "mysqld")
        self.install_db = _find("mariadb-install-db", "mysql_install_db")
        if not self.mysqld or not self.install_db:
            raise ServiceUnavailable("MariaDB is not installed (apt-get install mariadb-server)")
        self.port = port or free_port()
        self._own_dir = basedir is None
        self.basedir = Path(basedir or tempfile.mkdtemp(prefix="syncstorage-mariadb-"))
        self.datadir = self.basedir / "data"
        self.socket = str(self.basedir / "mysqld.sock")
        self.process: subprocess.Popen | None = None

    def _tmpdir_arg(self) -> str:
        """A temporary directory of this server's own: at start-up mariadbd removes the
        ``#sql*`` files it finds in its tmpdir, which in a shared /tmp are the live temporary
        tables of the other servers being initialised or running beside it."""
        tmpdir = self.basedir / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        return f"--tmpdir={tmpdir}"

    def _as_root_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def start(self, timeout: float = 90) -> "MariaDB":
        fresh = not (self.datadir / "mysql").exists()
        if not self.initialize and not self.datadir.exists():
            # rsync's daemon, which receives the state, runs as nobody when started by root
            self.datadir.mkdir(parents=True)
            if os.geteuid() == 0:
                import pwd

                nobody = pwd.getpwnam("nobody")
                os.chown(self.datadir, nobody.pw_uid, nobody.pw_gid)
        elif fresh:
            self.datadir.mkdir(parents=True, exist_ok=True)
            done = subprocess.run([self.install_db, "--no-defaults", f"--datadir={self.datadir}", self._tmpdir_arg(),
                                   "--auth-root-authentication-method=socket", "--skip-test-db",
                                   *self._as_root_args()],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:  # say why: the exit status alone does not
                raise RuntimeError(f"{self.install_db} failed ({done.returncode}): {done.stderr[-2000:]}")
        log = open(self.basedir / "mysqld.log", "ab")
        self.process = subprocess.Popen(
            [self.mysqld, "--no-defaults", f"--datadir={self.datadir}", self._tmpdir_arg(), f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.basedir / 'mysqld.pid'}",
             *([] if any(a.startswith("--log-bin") for a in self.extra_args) else ["--skip-log-bin"]),
             "--innodb-buffer-pool-size=256M", "--innodb-flush-log-at-trx-commit=2",
             "--max-connections=500", "--character-set-server=utf8mb4", *self.extra_args, *self._as_root_args()],
            stdout=log, stderr=log, start_new_session=True)
        wait_for(lambda: self.root_connection().close() or True, timeout, what="MariaDB to accept connections")
        if fresh:  # only then: a restarted server must not log a transaction of its own (a GRANT is logged)
            with self.root_connection() as conn, conn.cursor() as cur:
                create_account(cur, self.USER, self.PASSWORD, "ALL PRIVILEGES", "*.*")
        return self

    def root_connection(self):
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"mysqld exited with {self.process.returncode}; see {self.basedir / 'mysqld.log'}")
        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True)

    def url(self, database: str) -> str:
        return f"mysql+pymysql://{self.USER}:{self.PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, replace: bool = True) -> str:
        """Create database ``name`` (empty when ``replace``, else kept if it exists); return its URL."""
        with self.root_connection() as conn, conn.cursor() as cur:
            if replace:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return self.url(name)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang as with a stuck database."""
        freeze(self.process.pid)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as with a lost host (its files stay)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self, remove: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if remove and self._own_dir:
            shutil.rmtree(self.basedir, ignore_errors=True)


def promote(replica: pymysql.Connection, timeout: float = 60) -> None:
    """docs/runbook.md's promotion, on a root connection to the replica: it stops receiving, applies
    every transaction it has received (an acknowledged commit may still sit unapplied in its relay
    log: RESET SLAVE would discard it), then stops replicating and takes writes."""
    with replica.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("STOP SLAVE IO_THREAD")
        cur.execute("SHOW SLAVE STATUS")
        received = cur.fetchone()["Gtid_IO_Pos"]
        cur.execute("SELECT MASTER_GTID_WAIT(%s, %s) AS waited", (received, timeout))
        if cur.fetchone()["waited"] != 0:
            raise RuntimeError(f"the replica did not apply {received} within {timeout} s")
        cur.execute("STOP SLAVE")
        cur.execute("RESET SLAVE ALL")
        cur.execute("SET GLOBAL read_only = OFF")


def receiving(replica: pymysql.Connection) -> bool:
    """Whether the server (a root connection) is a replica still receiving from its primary."""
    with replica.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        status = cur.fetchone()
    return bool(status) and status["Slave_IO_Running"] != "No"


def hold_replay(replica: pymysql.Connection) -> None:
    """Replication lag: the replica (a root connection) keeps receiving and acknowledging
    transactions but cannot apply them while this connection holds a global read lock; closing
    the connection lets go."""
    with replica.cursor() as cur:
        cur.execute("FLUSH TABLES WITH READ LOCK")


class ReplicatedMariaDB:
    """A primary and a replica with GTID replication and lossless semi-synchronous acknowledgement
    (``AFTER_SYNC``: the primary answers a commit only once the replica has the transaction), the
    layout docs/cluster.md recommends per storage node.  Both start read-only (so that a server
    that restarts cannot take writes until told); the primary is then made writable.

    :meth:`promote` is the failover: the replica stops replicating and becomes writable."""

    REPL_USER, REPL_PASSWORD = "repl", "repl-test-password"
    # the application's account: no SUPER / READ ONLY ADMIN, so that read_only fences it
    APP_USER, APP_PASSWORD = "app", "app-test-password"

    def __init__(self, ack_timeout_ms: int = 30000, ports: tuple[int | None, int | None] = (None, None),
                 basedir: str | None = None):
        common = ("--log-bin=mysql-bin", "--binlog-format=ROW", "--log-slave-updates", "--read-only=ON",
                  "--gtid-strict-mode=ON", f"--rpl-semi-sync-master-timeout={ack_timeout_ms}",
                  "--rpl-semi-sync-master-wait-point=AFTER_SYNC")
        dirs = (str(Path(basedir) / "a"), str(Path(basedir) / "b")) if basedir else (None, None)
        self.primary = MariaDB(port=ports[0], basedir=dirs[0],
                               extra_args=(*common, "--server-id=1", "--rpl-semi-sync-master-enabled=ON"))
        self.replica = MariaDB(port=ports[1], basedir=dirs[1],
                               extra_args=(*common, "--server-id=2", "--rpl-semi-sync-slave-enabled=ON"))

    def start(self, timeout: float = 90) -> "ReplicatedMariaDB":
        self.primary.start(timeout)
        self.replica.start(timeout)
        with self.replica.root_connection() as conn, conn.cursor() as cur:
            # on both: after a failover the old primary replicates from the promoted replica
            create_account(cur, self.REPL_USER, self.REPL_PASSWORD, "REPLICATION SLAVE", "*.*")
        with self.primary.root_connection() as conn, conn.cursor() as cur:
            create_account(cur, self.REPL_USER, self.REPL_PASSWORD, "REPLICATION SLAVE", "*.*")
            cur.execute("SELECT @@gtid_binlog_pos")
            position = cur.fetchone()[0]
            cur.execute("SET GLOBAL read_only = OFF")
        with self.replica.root_connection() as conn, conn.cursor() as cur:
            # each server made its own accounts: replicate only what happens from here on
            cur.execute("SET GLOBAL gtid_slave_pos = %s", (position,))
            cur.execute(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port}, "
                        f"MASTER_USER='{self.REPL_USER}', MASTER_PASSWORD='{self.REPL_PASSWORD}', "
                        "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1")
            cur.execute("START SLAVE")
        wait_for(self._semi_sync_on, timeout, what="the replica to acknowledge semi-synchronously")
        return self

    def _semi_sync_on(self) -> bool:
        with self.primary.root_connection() as conn, conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'")
            row = cur.fetchone()
        return bool(row) and int(row[1]) > 0

    def create_database(self, name: str) -> str:
        """The database on the primary (replicated) with the application's account limited to it
        (replicated too); the account's URL on the primary."""
        self.primary.create_database(name)
        with self.primary.root_connection() as conn, conn.cursor() as cur:
            create_account(cur, self.APP_USER, self.APP_PASSWORD, "ALL PRIVILEGES", f"`{name}`.*")
        return self.url(self.primary, name)

    def url(self, server: MariaDB, database: str) -> str:
        """The application's URL for ``database`` on ``server`` (the primary or the replica)."""
        return f"mysql+pymysql://{self.APP_USER}:{self.APP_PASSWORD}@127.0.0.1:{server.port}/{database}"

    def promote(self, timeout: float = 60) -> None:
        """Fail over to the replica (:func:`promote`)."""
        with self.replica.root_connection() as conn:
            promote(conn, timeout)

    def hold_replay(self):
        """Replication lag (:func:`hold_replay`) until the returned connection is closed."""
        conn = self.replica.root_connection()
        hold_replay(conn)
        return conn

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()


class GaleraCluster:
    """MariaDB Galera Cluster (Debian's galera-4 provider) of ``size`` servers on loopback, every one
    writable, each commit certified by all of them before it is acknowledged; the first bootstraps
    the cluster, the others join it by state transfer (rsync).  For comparing with
    :class:`ReplicatedMariaDB` (docs/cluster.md)."""

    PROVIDER_PATHS = ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so",
                      "/usr/lib64/galera-4/libgalera_smm.so")

    def __init__(self, size: int = 3):
        provider = next((path for path in self.PROVIDER_PATHS if os.path.exists(path)), None)
        if provider is None:
            raise ServiceUnavailable("the Galera provider is not installed (apt-get install galera-4)")
        group = [free_port() for _ in range(size)]  # group communication
        peers = ",".join(f"127.0.0.1:{port}" for port in group)
        self.servers = []
        for n, port in enumerate(group):
            ist, sst = free_port(), free_port()
            args = ("--wsrep-on=ON", f"--wsrep-provider={provider}", "--wsrep-cluster-name=syncstorage",
                    f"--wsrep-cluster-address=gcomm://{'' if n == 0 else peers}",
                    f"--wsrep-node-address=127.0.0.1:{port}", f"--wsrep-node-name=node{n}",
                    f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{port};"
                    f"ist.recv_addr=127.0.0.1:{ist}",
                    f"--wsrep-sst-receive-address=127.0.0.1:{sst}", "--wsrep-sst-method=rsync",
                    "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2", "--default-storage-engine=InnoDB")
            self.servers.append(MariaDB(extra_args=args, initialize=n == 0))

    def start(self, timeout: float = 120) -> "GaleraCluster":
        for server in self.servers:  # one at a time: each joins the cluster the previous ones form
            server.start(timeout)
            wait_for(lambda s=server: self._synced(s), timeout, what="the server to join the cluster")
        return self

    @staticmethod
    def _synced(server: MariaDB) -> bool:
        with server.root_connection() as conn, conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'wsrep_local_state_comment'")
            return cur.fetchone()[1] == "Synced"

    def size(self) -> int:
        with self.servers[0].root_connection() as conn, conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'wsrep_cluster_size'")
            return int(cur.fetchone()[1])

    def certification_failures(self) -> int:
        """Transactions the first server had to roll back at commit (a conflict with another server's)."""
        with self.servers[0].root_connection() as conn, conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'wsrep_local_cert_failures'")
            return int(cur.fetchone()[1])

    def create_database(self, name: str) -> str:
        """The database (on every server); its URL on the first."""
        return self.servers[0].create_database(name)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


class Memcached:
    """A private memcached on loopback."""

    def __init__(self, port: int | None = None, memory_mb: int = 64):
        self.binary = _find("memcached")
        if not self.binary:
            raise ServiceUnavailable("memcached is not installed (apt-get install memcached)")
        self.port = port or free_port()
        self.memory_mb = memory_mb
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "Memcached":
        user = ["-u", "root"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", str(self.memory_mb), *user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._answers, timeout, what="memcached to accept connections")
        return self

    def _answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"version\r\n")
            return sock.recv(64).startswith(b"VERSION")

    def stats(self) -> dict[str, int]:
        """memcached's own counters (``stats``): commands served since it started."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        counters = {}
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
                counters[parts[1]] = int(parts[2])
        return counters

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): requests time out as in a network partition."""
        freeze(self.process.pid)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None
