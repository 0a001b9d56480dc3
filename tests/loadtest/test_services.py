"""The Galera cluster the replication benchmark compares with the semi-synchronous pair: three
servers form one cluster, and a commit on one is on the others when it returns (certified by all)."""
import pytest

from loadtest.services import GaleraCluster

from ..conftest import start_service

pytestmark = pytest.mark.services


def test_a_galera_cluster_of_three_commits_everywhere():
    cluster = start_service(GaleraCluster)
    try:
        assert cluster.size() == 3
        cluster.create_database("galera")
        with cluster.servers[0].root_connection() as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE galera.t (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute("INSERT INTO galera.t VALUES (1, 'written')")
        for server in cluster.servers[1:]:
            with server.root_connection() as conn, conn.cursor() as cur:
                cur.execute("SET SESSION wsrep_sync_wait = 1")  # reads wait for what is certified
                cur.execute("SELECT v FROM galera.t WHERE id = 1")
                assert cur.fetchone() == ("written",)
        assert cluster.certification_failures() == 0
    finally:
        cluster.stop()


def test_each_mariadb_has_a_tmpdir_of_its_own(mariadb):
    """A server starting beside it would otherwise remove its temporary tables' files."""
    with mariadb.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@tmpdir")
        assert cur.fetchone()[0] == str(mariadb.basedir / "tmp")
