"""Backups of a node database taken from its replica with mariadb-backup (the primary keeps serving),
restored into a new server, and rolled forward to a later point with the primary's binary log
(point-in-time recovery): the procedure of runbook section 9, run as written."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from loadtest.services import MariaDB, ReplicatedMariaDB
from syncstorage.infra.config import load_settings
from syncstorage.services.migrate import migrate
from syncstorage.web.app import make_app

from ..conftest import PASSWORD, REQUIRE_SERVICES, new_username, password_hash, start_service
from ..gate.test_overload import call

pytestmark = pytest.mark.services


@pytest.fixture
def pair():
    if shutil.which("mariadb-backup") is None or shutil.which("mariadb-binlog") is None:
        message = "mariadb-backup is not installed (apt-get install mariadb-backup)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    servers = start_service(ReplicatedMariaDB)
    yield servers
    servers.stop()


def write(app, name: str, records: list[str]) -> None:
    body = json.dumps([{"id": r, "payload": "p" * 50} for r in records]).encode()
    assert call(app, "POST", f"/1.1/{name}/storage/history", f"{name}:{PASSWORD}", body)["status"] == 200


def stored(app, name: str) -> set[str]:
    result = call(app, "GET", f"/1.1/{name}/storage/history", f"{name}:{PASSWORD}")
    assert result["status"] == 200
    return set(json.loads(result["body"]))


def run(*argv: str, stdin=None) -> str:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=stdin is None or isinstance(stdin, str),
                          timeout=300)
    assert done.returncode == 0, (argv[0], done.stderr[-2000:])
    return done.stdout


def test_backup_from_the_replica_restore_and_point_in_time_recovery(pair, tmp_path):
    url = pair.create_database("node1")
    settings = load_settings(overrides={"storage.sqluri": url}, environ={})
    migrate(settings, log=lambda m: None)
    app = make_app(settings)
    name = new_username()
    app.services.userdb.create_user(name, None, password_hash())
    write(app, name, [f"before{i}" for i in range(50)])
    with pair.replica.root_connection() as conn, conn.cursor() as cur:  # the backup sees what was written
        cur.execute("SELECT MASTER_GTID_WAIT(%s, 60)", (primary_position(pair),))

    # 1. the backup, from the replica, while the primary serves
    backup = tmp_path / "backup"
    run("mariadb-backup", "--backup", "--slave-info", "--safe-slave-backup", f"--target-dir={backup}",
        f"--socket={pair.replica.socket}", "--user=root")
    run("mariadb-backup", "--prepare", f"--target-dir={backup}")
    # where the backup stands in the primary's history: SET GLOBAL gtid_slave_pos = '...'
    info = next(backup / f for f in ("mariadb_backup_slave_info", "xtrabackup_slave_info") if (backup / f).exists())
    backup_gtid = info.read_text().split("'")[1]
    write(app, name, [f"after{i}" for i in range(20)])  # after the backup: only the binary log has these
    target_gtid = primary_position(pair)
    write(app, name, ["too-late"])  # after the chosen point: must not be recovered

    # 2. restore into a new server
    restored = MariaDB(basedir=str(tmp_path / "restored"))
    run("mariadb-backup", "--copy-back", f"--target-dir={backup}", f"--datadir={restored.datadir}")
    restored.start()
    try:
        restored_url = restored.url("node1")
        restored_app = make_app(load_settings(overrides={"storage.sqluri": restored_url}, environ={}))
        assert stored(restored_app, name) == {f"before{i}" for i in range(50)}

        # 3. point-in-time recovery: the primary's binary log from the backup's position to the chosen one
        binlogs = sorted(str(p) for p in Path(pair.primary.datadir).glob("mysql-bin.[0-9]*"))
        events = subprocess.run(["mariadb-binlog", f"--start-position={backup_gtid}",
                                 f"--stop-position={target_gtid}", *binlogs],
                                capture_output=True, timeout=300, check=True).stdout
        run("mariadb", f"--socket={restored.socket}", "--user=root", stdin=events)
        restored_app.services.close()
        restored_app = make_app(load_settings(overrides={"storage.sqluri": restored_url}, environ={}))
        assert stored(restored_app, name) == {f"before{i}" for i in range(50)} | {f"after{i}" for i in range(20)}
        restored_app.services.close()
    finally:
        restored.stop()
        app.services.close()


def primary_position(pair) -> str:
    with pair.primary.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        return cur.fetchone()[0]
